import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { DEFAULT_PORTS, type ServiceName } from '../../services/platform/config/index.ts';
import type { RunningService } from '../../services/platform/runtime.ts';
import { start as startAuditWriter } from '../../workers/audit-writer/worker.ts';
import { start as startMaintenance } from '../../workers/maintenance/worker.ts';
import { testConfig } from '../support/infra.ts';
import { startModules, stopAll } from '../support/modules.ts';
import { APP_SERVICES, dockerDir, loadCompose, loadYaml, promtool } from './deploy-files.ts';

interface ScrapeConfig {
  job_name: string;
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

const prometheusConfig = loadYaml<{ rule_files: string[]; scrape_configs: ScrapeConfig[] }>('docker/prometheus/prometheus.yml');
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
  ],
  maintenance: ['jwt_key_rotation_total', 'jwt_key_rotation_duration_seconds', 'jwt_active_keys_count', 'jwt_key_next_rotation_seconds'],
  'audit-writer': ['audit_log_total', 'audit_log_persist_latency_seconds'],
  'storage-element': [],
  ingester: [],
  query: [],
};
const NEEDED_FROM_EVERY_PROCESS = ['http_requests_total', 'jwt_tokens_verified_total', 'audit_events_published_total', 'audit_spool_backlog_bytes'];

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

function ruleExpressions(): { where: string; expr: string }[] {
  return ruleFiles.flatMap((file) =>
    loadYaml<{ groups: RuleGroup[] }>(file).groups.flatMap((g) => g.rules.map((r) => ({ where: `${file} ${r.alert ?? r.record}`, expr: r.expr }))),
  );
}

describe('Prometheus and Grafana files', () => {
  it('when promtool checks the Prometheus config, then it and its rule files are valid', () => {
    const config = promtool(['check', 'config', 'docker/prometheus/prometheus.yml']);
    assert.equal(config.status, 0, config.output);
    assert.match(config.output, new RegExp(`SUCCESS: ${ruleFiles.length} rule files found`));
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

    before(async function () {
      this.timeout(60_000);
      Object.assign(running, await startModules());
      running['audit-writer'] = await startAuditWriter(testConfig('audit-writer'));
      running.maintenance = await startMaintenance(testConfig('maintenance'));
      for (const [name, service] of Object.entries(running) as [ServiceName, RunningService][]) {
        const response = await fetch(`${service.url}/metrics`);
        assert.equal(response.status, 200);
        exposition[name] = await response.text();
      }
    });
    after(() => stopAll(Object.values(running)));

    for (const name of APP_SERVICES) {
      it(`when promtool checks the ${name} /metrics, then it parses and has no lint problem beyond the accepted names`, () => {
        const result = promtool(['check', 'metrics'], exposition[name]);
        assert.ok(result.status === 0 || result.status === 3, `promtool could not parse the exposition:\n${result.output}`);
        const problems = result.output.split('\n').filter((line) => line.trim() && !ACCEPTED_LINT.some((re) => re.test(line.trim())));
        assert.deepEqual(problems, []);
      });
    }

    it('when the dashboard and the alert rules read a metric, then some process really exports it', () => {
      const types = new Map(Object.values(exposition).flatMap((text) => [...exportedTypes(text!)]));
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

    it('when the expectations list a metric, then the dashboard or an alert rule reads it', () => {
      const read = new Set(
        [...dashboardExpressions(), ...ruleExpressions()].flatMap(({ expr }) => metricNames(expr).map((n) => n.replace(/_(bucket|sum|count)$/, ''))),
      );
      const listed = new Set([...Object.values(NEEDED_FROM).flat(), ...NEEDED_FROM_EVERY_PROCESS]);
      for (const name of listed) assert.ok(read.has(name) || read.has(name.replace(/_(bucket|sum|count)$/, '')), `${name} is expected but nothing reads it`);
    });
  });
});
