/**
 * What a client sees of an answer, in one comparable string: `200`, or the status with its error
 * code (`401 token_revoked`, `429 temporarily_unavailable`), whether the body is the platform's
 * `{"error":{"code"}}` or OAuth2's `{"error":"…"}`. Consumes the body.
 */
export async function answerOf(res: Response): Promise<string> {
  const text = await res.text();
  if (res.ok) return String(res.status);
  let error: unknown;
  try {
    error = (JSON.parse(text) as { error?: unknown }).error;
  } catch {
    return `${res.status} ${text.slice(0, 80)}`;
  }
  const code = typeof error === 'string' ? error : (error as { code?: string } | undefined)?.code;
  return `${res.status} ${code ?? text.slice(0, 80)}`;
}
