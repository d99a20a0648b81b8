import assert from 'node:assert/strict';
import { canonicalJson, CanonicalJsonError } from './canonical-json.ts';

const fromBits = (hex: string) => new DataView(new BigUint64Array([BigInt(hex)]).buffer).getFloat64(0, true);

describe('RFC 8785 canonical JSON', () => {
  it('when given the RFC §3.2.2 sample, then it writes the RFC output byte for byte', () => {
    const input = JSON.parse(
      '{"numbers": [333333333.33333329, 1E30, 4.50, 2e-3, 0.000000000000000000000000001],' +
        ' "string": "\\u20ac$\\u000F\\u000aA\'\\u0042\\u0022\\u005c\\\\\\"\\/", "literals": [null, true, false]}',
    );
    assert.equal(
      canonicalJson(input),
      '{"literals":[null,true,false],"numbers":[333333333.3333333,1e+30,4.5,0.002,1e-27],"string":"€$\\u000f\\nA\'B\\"\\\\\\\\\\"/"}',
    );
  });

  it('when given the RFC §3.2.3 sorting sample, then properties come in UTF-16 code unit order', () => {
    const input = JSON.parse(
      '{"\\u20ac": "Euro Sign", "\\r": "Carriage Return", "\\ufb33": "Hebrew Letter Dalet With Dagesh", "1": "One",' +
        ' "\\ud83d\\ude00": "Emoji: Grinning Face", "\\u0080": "Control", "\\u00f6": "Latin Small Letter O With Diaeresis"}',
    );
    assert.equal(
      canonicalJson(input),
      '{"\\r":"Carriage Return","1":"One","\u0080":"Control","\u00f6":"Latin Small Letter O With Diaeresis","\u20ac":"Euro Sign",' +
        '"\ud83d\ude00":"Emoji: Grinning Face","\ufb33":"Hebrew Letter Dalet With Dagesh"}',
    );
  });

  it('when given the RFC Appendix B numbers, then each is written as the RFC lists it', () => {
    const samples: [string, string][] = [
      ['0x0000000000000000', '0'],
      ['0x8000000000000000', '0'],
      ['0x0000000000000001', '5e-324'],
      ['0x8000000000000001', '-5e-324'],
      ['0x7fefffffffffffff', '1.7976931348623157e+308'],
      ['0xffefffffffffffff', '-1.7976931348623157e+308'],
      ['0x4340000000000000', '9007199254740992'],
      ['0xc340000000000000', '-9007199254740992'],
      ['0x4430000000000000', '295147905179352830000'],
      ['0x44b52d02c7e14af5', '9.999999999999997e+22'],
      ['0x44b52d02c7e14af6', '1e+23'],
      ['0x44b52d02c7e14af7', '1.0000000000000001e+23'],
      ['0x444b1ae4d6e2ef4e', '999999999999999700000'],
      ['0x444b1ae4d6e2ef4f', '999999999999999900000'],
      ['0x444b1ae4d6e2ef50', '1e+21'],
      ['0x3eb0c6f7a0b5ed8c', '9.999999999999997e-7'],
      ['0x3eb0c6f7a0b5ed8d', '0.000001'],
      ['0x41b3de4355555553', '333333333.3333332'],
      ['0x41b3de4355555554', '333333333.33333325'],
      ['0x41b3de4355555555', '333333333.3333333'],
      ['0x41b3de4355555556', '333333333.3333334'],
      ['0x41b3de4355555557', '333333333.33333343'],
      ['0xbecbf647612f3696', '-0.0000033333333333333333'],
      ['0x43143ff3c1cb0959', '1424953923781206.2'],
    ];
    for (const [bits, expected] of samples) assert.equal(canonicalJson(fromBits(bits)), expected, bits);
  });

  it('when given NaN, Infinity (Appendix B error cases) or a lone surrogate, then it refuses', () => {
    for (const bad of [fromBits('0x7fffffffffffffff'), fromBits('0x7ff0000000000000'), { a: -Infinity }, 'x\ud800', { '\udc00': 1 }]) {
      assert.throws(() => canonicalJson(bad), CanonicalJsonError);
    }
  });

  it('when given values that are not JSON (undefined, a Date, a bigint), then it refuses instead of guessing', () => {
    for (const bad of [{ a: undefined }, new Date(0), 1n, [() => 1]]) assert.throws(() => canonicalJson(bad), CanonicalJsonError);
  });

  it('when objects nest, then every level is sorted and nothing but the values is written', () => {
    assert.equal(canonicalJson({ z: [{ b: 2, a: 1 }, []], a: { y: null, x: 'é\u2028' } }), '{"a":{"x":"é\u2028","y":null},"z":[{"a":1,"b":2},[]]}');
  });
});
