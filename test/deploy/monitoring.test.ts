import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { stringify } from 'yaml';
import { DEFAULT_PORTS, type ServiceName } from '../../services/platform/config/index.ts';
import type { RunningService } from '../../services/platform/runtime.ts';
import { start as startAuditWriter } from '../../workers/audit-writer/worker.ts';
import { start as startMaintenance } from '../../workers/maintenance/worker.ts';
import { testConfig } from '../support/infra.ts';
import { startModules, stopAll } from '../support/modules.ts';
import { bundleClient, startTlsModules, tlsTestEnv } from '../support/tls-modules.ts';
import { APP_SERVICES, dockerDir, loadCompose, loadYaml, mountedSecrets, promtool } from './deploy-files.ts';

interface ScrapeConfig {
  job_name: string;
  authorization?: { type?: string; credentials_file?: string; credentials?: string };
  dns_sd_configs?: { names: string[]; type: string; port: number }[];
}
interface RuleGroup {
  name: string;
  rules: { alert?: string; record?: string; expr: string }[];
}
interface Panel {
  title: string;
  type: string;
  targets?: { expr: string }[];
  panels?: Panel[];
}

interface PrometheusConfig {
  rule_files: string[];
  scrape_configs: ScrapeConfig[];
}

const prometheusConfig = loadYaml<PrometheusConfig>('docker/prometheus/prometheus.yml');
/** Where the metrics_token Docker secret is mounted, in the app containers and in Prometheus. */
const METRICS_TOKEN_PATH = '/run/secrets/metrics_token';
const ruleFiles = readdirSync(path.join(dockerDir, 'prometheus/rules')).map((f) => path.join('docker/prometheus/rules', f));
const ruleTests = readdirSync(path.join(dockerDir, 'prometheus/tests')).map((f) => path.join('docker/prometheus/tests', f));
const dashboards = readdirSync(path.join(dockerDir, 'grafana/dashboards')).map((f) => path.join(dockerDir, 'grafana/dashboards', f));

/**
 * What the dashboard and the alert rules read, by the process expected to export it. Where a name
 * is missing the test says which process should have it.
 */
const NEEDED_FROM: Record<ServiceName, string[]> = {
  admin: [
    'jwt_key_rotation_total',
    'jwt_key_rotation_duration_seconds',
    'jwt_active_keys_count',
    'jwt_key_next_rotation_seconds',
    'jwt_tokens_issued_total',
    'bullmq_job_count',
    'audit_log_verification_failures_total',
    'auth_throttled_total',
  ],
  maintenance: ['jwt_key_rotation_total', 'jwt_key_rotation_duration_seconds', 'jwt_active_keys_count', 'jwt_key_next_rotation_seconds'],
  'audit-writer': ['audit_log_total', 'audit_log_persist_latency_seconds'],
  'storage-element': [],
  ingester: [],
  query: [],
};
const NEEDED_FROM_EVERY_PROCESS = ['http_requests_total', 'jwt_tokens_verified_total', 'audit_events_published_total', 'audit_spool_backlog_bytes'];
/** What every process exports with TLS_MODE=on: its workload certificate's life and rotations, and the handshakes its listener refused. */
const NEEDED_WITH_TLS_FROM_EVERY_PROCESS = [
  'tls_certificate_expiry_seconds',
  'tls_certificate_lifetime_seconds',
  'tls_certificate_rotations_total',
  'tls_handshake_failures_total',
];

/** Series Prometheus makes itself for every target. */
const PROMETHEUS_SERIES = new Set(['up', 'scrape_duration_seconds', 'scrape_samples_scraped']);

/**
 * Lint findings of `promtool check metrics` accepted on purpose: bullmq_job_count and
 * jwt_active_keys_count are the names dashboards and alerts were built on. Anything else fails.
 */
const ACCEPTED_LINT = [/^(bullmq_job_count|jwt_active_keys_count) non-histogram and non-summary metrics should not have "_count" suffix$/];

/** Metric names a PromQL expression reads (functions, keywords, labels and durations left out). */
function metricNames(expr: string): string[] {
  const bare = expr
    .replace(/"(?:[^"\\]|\\.)*"/g, '""')
    .replace(/\{[^}]*\}/g, '')
    .replace(/\[[^\]]*\]/g, '')
    .replace(/\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, '')
    .replace(/\boffset\s+-?[0-9a-z]+/g, '')
    .replace(/\$\{?\w+\}?/g, '');
  const keywords = new Set(['and', 'or', 'unless', 'bool', 'inf', 'nan']);
  const names = new Set<string>();
  for (const match of bare.matchAll(/(?<![\w.])([a-zA-Z_:][a-zA-Z0-9_:]*)(\s*\()?/g)) {
    if (!match[2] && !keywords.has(match[1]!.toLowerCase())) names.add(match[1]!);
  }
  return [...names];
}

/** `# TYPE name kind` lines of an exposition: name → kind. */
function exportedTypes(text: string): Map<string, string> {
  return new Map([...text.matchAll(/^# TYPE (\S+) (\S+)$/gm)].map((m) => [m[1]!, m[2]!]));
}

/** A series name as read in PromQL resolved to the metric family that exports it. */
function familyOf(name: string, types: Map<string, string>): string | undefined {
  if (types.has(name)) return name;
  const base = name.replace(/_(bucket|sum|count)$/, '');
  return ['histogram', 'summary'].includes(types.get(base) ?? '') ? base : undefined;
}

function dashboardExpressions(): { where: string; expr: string }[] {
  const all: { where: string; expr: string }[] = [];
  for (const file of dashboards) {
    const dashboard = JSON.parse(readFileSync(file, 'utf8')) as { uid: string; panels: Panel[] };
    assert.ok(dashboard.uid, `${file} has no uid`);
    const walk = (panels: Panel[]) => {
      for (const panel of panels) {
        for (const target of panel.targets ?? []) all.push({ where: `${path.basename(file)} "${panel.title}"`, expr: target.expr });
        walk(panel.panels ?? []);
      }
    };
    walk(dashboard.panels);
  }
  return all;
}

/**
 * prometheus.yml as promtool can check it outside the container: promtool insists that every
 * credentials_file exists, so the token path points at a file in `dir`, and the rule globs are made
 * absolute because the copy lives elsewhere. Returns the copy's path.
 */
function checkablePrometheusConfig(dir: string): string {
  const tokenFile = path.join(dir, 'metrics_token');
  writeFileSync(tokenFile, randomBytes(24).toString('hex'));
  const config = loadYaml<PrometheusConfig>('docker/prometheus/prometheus.yml');
  config.rule_files = config.rule_files.map((glob) => path.resolve(dockerDir, 'prometheus', glob));
  for (const job of config.scrape_configs) {
    if (job.authorization?.credentials_file === METRICS_TOKEN_PATH) job.authorization.credentials_file = tokenFile;
  }
  const copy = path.join(dir, 'prometheus.yml');
  writeFileSync(copy, stringify(config));
  return copy;
}

function ruleExpressions(): { where: string; expr: string }[] {
  return ruleFiles.flatMap((file) =>
    loadYaml<{ groups: RuleGroup[] }>(file).groups.flatMap((g) => g.rules.map((r) => ({ where: `${file} ${r.alert ?? r.record}`, expr: r.expr }))),
  );
}

describe('Prometheus and Grafana files', () => {
  it('when promtool checks the Prometheus config, then it and its rule files are valid', () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'artstore-prometheus-'));
    try {
      const config = promtool(['check', 'config', checkablePrometheusConfig(dir)]);
      assert.equal(config.status, 0, config.output);
      assert.match(config.output, new RegExp(`SUCCESS: ${ruleFiles.length} rule files found`));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
    const rules = promtool(['check', 'rules', ...ruleFiles]);
    assert.equal(rules.status, 0, rules.output);
  });

  it('when promtool runs the rule unit tests, then every alert fires and stays quiet as designed', function () {
    this.timeout(60_000);
    const result = promtool(['test', 'rules', ...ruleTests]);
    assert.equal(result.status, 0, result.output);
    const alerts = ruleExpressions().map(({ where }) => where.split(' ').at(-1)!);
    const tested = ruleTests.map((f) => readFileSync(f, 'utf8')).join('\n');
    for (const alert of alerts) assert.match(tested, new RegExp(`alertname: ${alert}\\b`), `${alert} has no unit test`);
  });

  it('when Prometheus starts, then it scrapes every module and worker replica on its port', () => {
    const production = loadCompose('compose.yml');
    for (const name of APP_SERVICES) {
      const job = prometheusConfig.scrape_configs.find((s) => s.job_name === name);
      assert.ok(job, `no scrape job for ${name}`);
      assert.deepEqual(
        job.dns_sd_configs?.map((d) => [d.names, d.type, d.port]),
        [[[name], 'A', DEFAULT_PORTS[name]]],
      );
      assert.equal(Number(production.services[name]!.environment?.PORT), DEFAULT_PORTS[name]);
    }
  });

  it('when Prometheus scrapes a module or worker, then it sends the metrics_token secret it mounts as its bearer token', () => {
    for (const name of APP_SERVICES) {
      const job = prometheusConfig.scrape_configs.find((s) => s.job_name === name)!;
      assert.deepEqual(job.authorization, { type: 'Bearer', credentials_file: METRICS_TOKEN_PATH }, `scrape job ${name}`);
    }
    const monitoring = loadCompose('compose.monitoring.yml');
    assert.ok(mountedSecrets(monitoring.services.prometheus!).includes('metrics_token'), 'prometheus does not mount the metrics_token secret');
    assert.equal(
      monitoring.secrets?.metrics_token?.file,
      loadCompose('compose.yml').secrets?.metrics_token?.file,
      'Prometheus and the processes read different token files',
    );
  });

  it('when Grafana provisions the dashboard, then it uses the provisioned Prometheus datasource', () => {
    const datasources = loadYaml<{ datasources: { uid: string; url: string }[] }>('docker/grafana/provisioning/datasources/prometheus.yml').datasources;
    const uids = new Set(datasources.map((d) => d.uid));
    assert.deepEqual(
      datasources.map((d) => d.url),
      ['http://prometheus:9090'],
    );
    for (const file of dashboards) {
      const text = readFileSync(file, 'utf8');
      for (const match of text.matchAll(/"uid":\s*"([^"]+)"/g)) {
        if (match[1] !== JSON.parse(text).uid) assert.ok(uids.has(match[1]!), `${path.basename(file)} refers to unknown datasource ${match[1]}`);
      }
    }
    const provider = loadYaml<{ providers: { options: { path: string } }[] }>('docker/grafana/provisioning/dashboards/artstore.yml').providers[0]!;
    const grafana = loadCompose('compose.monitoring.yml').services.grafana!;
    assert.ok(
      grafana.volumes?.includes(`./grafana/dashboards:${provider.options.path}:ro`),
      'the dashboards directory is not mounted where the provider reads',
    );
  });

  it('when a PromQL expression is read, then only its metric names are picked out', () => {
    assert.deepEqual(
      metricNames(
        'sum by (le) (rate(a_bucket{x="b c"}[5m])) + on() (b offset 25h) or vector(0) and absent(up{job="q"} == 1) > 25 * 3600 unless c[$__rate_interval]',
      ),
      ['a_bucket', 'b', 'up', 'c'],
    );
  });

  describe('against the live /metrics of every process', () => {
    const running: Partial<Record<ServiceName, RunningService>> = {};
    const exposition: Partial<Record<ServiceName, string>> = {};
    // The same six processes with TLS on: the certificate metrics exist only there.
    const runningWithTls: Partial<Record<ServiceName, RunningService>> = {};
    const tlsExposition: Partial<Record<ServiceName, string>> = {};
    // Every process runs as in production, with the scrape token Prometheus sends.
    const withToken = { METRICS_TOKEN: randomBytes(24).toString('hex') };
    const scrapeHeaders = { authorization: `Bearer ${withToken.METRICS_TOKEN}` };

    before(async function () {
      this.timeout(60_000);
      Object.assign(running, await startModules(withToken));
      running['audit-writer'] = await startAuditWriter(testConfig('audit-writer', withToken));
      running.maintenance = await startMaintenance(testConfig('maintenance', withToken));
      for (const [name, service] of Object.entries(running) as [ServiceName, RunningService][]) {
        const response = await fetch(`${service.url}/metrics`, { headers: scrapeHeaders });
        assert.equal(response.status, 200, `${name} /metrics with the token`);
        exposition[name] = await response.text();
      }
      const tlsEnv = await tlsTestEnv(withToken);
      Object.assign(runningWithTls, await startTlsModules(tlsEnv));
      const withAdmin = { ...tlsEnv, ADMIN_URL: runningWithTls.admin!.url };
      runningWithTls['audit-writer'] = await startAuditWriter(testConfig('audit-writer', withAdmin));
      runningWithTls.maintenance = await startMaintenance(testConfig('maintenance', withAdmin));
      const client = await bundleClient(tlsEnv.PKI_BUNDLE_FILE!);
      try {
        for (const [name, service] of Object.entries(runningWithTls) as [ServiceName, RunningService][]) {
          const response = await client.fetch(`${service.url}/metrics`, { headers: scrapeHeaders });
          assert.equal(response.status, 200, `${name} /metrics over TLS with the token`);
          tlsExposition[name] = await response.text();
        }
      } finally {
        await client.close();
      }
    });
    after(async () => {
      await stopAll(Object.values(running));
      await stopAll(Object.values(runningWithTls));
    });

    it('when /metrics is asked without the token or with another, then every process answers 401 and /health and /ready stay open', async () => {
      for (const [name, service] of Object.entries(running) as [ServiceName, RunningService][]) {
        for (const [headers, code] of [
          [{}, 'missing_token'],
          [{ authorization: `Bearer ${randomBytes(24).toString('hex')}` }, 'invalid_token'],
          [{ authorization: `Basic ${Buffer.from(`prometheus:${withToken.METRICS_TOKEN}`).toString('base64')}` }, 'missing_token'],
        ] as const) {
          const refused = await fetch(`${service.url}/metrics`, { headers });
          const body = await refused.text();
          assert.equal(refused.status, 401, `${name} /metrics with ${JSON.stringify(Object.keys(headers))}`);
          assert.equal((JSON.parse(body) as { error: { code: string } }).error.code, code, `${name}: ${body}`);
          assert.match(refused.headers.get('www-authenticate') ?? '', /^Bearer /, name);
          assert.doesNotMatch(body, /http_requests_total/, `${name} leaks metrics in a refusal`);
        }
        for (const open of ['/health', '/ready']) {
          assert.equal((await fetch(`${service.url}${open}`)).status, 200, `${name} ${open} without a token`);
        }
      }
    });

    for (const name of APP_SERVICES) {
      for (const [mode, expositions] of [
        ['', exposition],
        [' with TLS on', tlsExposition],
      ] as const) {
        it(`when promtool checks the ${name} /metrics${mode}, then it parses and has no lint problem beyond the accepted names`, () => {
          const result = promtool(['check', 'metrics'], expositions[name]);
          assert.ok(result.status === 0 || result.status === 3, `promtool could not parse the exposition:\n${result.output}`);
          const problems = result.output.split('\n').filter((line) => line.trim() && !ACCEPTED_LINT.some((re) => re.test(line.trim())));
          assert.deepEqual(problems, []);
        });
      }
    }

    it('when the dashboard and the alert rules read a metric, then some process really exports it', () => {
      const types = new Map([...Object.values(exposition), ...Object.values(tlsExposition)].flatMap((text) => [...exportedTypes(text!)]));
      const unknown = [...dashboardExpressions(), ...ruleExpressions()].flatMap(({ where, expr }) =>
        metricNames(expr)
          .filter((name) => !PROMETHEUS_SERIES.has(name) && !familyOf(name, types))
          .map((name) => `${name} (${where})`),
      );
      assert.deepEqual(unknown, []);
    });

    it('when each process is scraped, then it exports the metrics the dashboard and alerts expect from it', () => {
      const missing = APP_SERVICES.flatMap((name) => {
        const types = exportedTypes(exposition[name]!);
        return [...NEEDED_FROM[name], ...NEEDED_FROM_EVERY_PROCESS].filter((metric) => !types.has(metric)).map((metric) => `${name}: ${metric}`);
      });
      assert.deepEqual(missing, []);
    });

    it('when each process is scraped with TLS on, then it exports the certificate and handshake metrics the dashboard and alerts read', () => {
      const missing = APP_SERVICES.flatMap((name) => {
        const types = exportedTypes(tlsExposition[name]!);
        return NEEDED_WITH_TLS_FROM_EVERY_PROCESS.filter((metric) => !types.has(metric)).map((metric) => `${name}: ${metric}`);
      });
      assert.deepEqual(missing, []);
    });

    it('when the expectations list a metric, then the dashboard or an alert rule reads it', () => {
      const read = new Set(
        [...dashboardExpressions(), ...ruleExpressions()].flatMap(({ expr }) => metricNames(expr).map((n) => n.replace(/_(bucket|sum|count)$/, ''))),
      );
      const listed = new Set([...Object.values(NEEDED_FROM).flat(), ...NEEDED_FROM_EVERY_PROCESS, ...NEEDED_WITH_TLS_FROM_EVERY_PROCESS]);
      for (const name of listed) assert.ok(read.has(name) || read.has(name.replace(/_(bucket|sum|count)$/, '')), `${name} is expected but nothing reads it`);
    });
  });
});
