import { Counter, Histogram, type Registry } from 'prom-client';

export interface WriterMetrics {
  /** audit_log_total: records stored, by category, type and status (the name dashboards use). */
  stored: Counter<'event_category' | 'event_type' | 'status'>;
  persistLatency: Histogram;
  rejected: Counter;
  duplicates: Counter;
  batchSize: Histogram;
}

export function createWriterMetrics(registry: Registry): WriterMetrics {
  const registers = [registry];
  return {
    stored: new Counter({
      name: 'audit_log_total',
      help: 'Audit records signed and stored, by event category, event type and status',
      labelNames: ['event_category', 'event_type', 'status'],
      registers,
    }),
    persistLatency: new Histogram({
      name: 'audit_log_persist_latency_seconds',
      help: "Time from an audit event's timestamp to the commit of its signed record",
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300],
      registers,
    }),
    rejected: new Counter({
      name: 'audit_log_rejected_total',
      help: 'Audit event jobs refused as invalid (moved to failed without retry)',
      registers,
    }),
    duplicates: new Counter({
      name: 'audit_log_duplicates_total',
      help: 'Redelivered audit events found already stored and skipped',
      registers,
    }),
    batchSize: new Histogram({
      name: 'audit_log_batch_size',
      help: 'Events per audit-writer transaction',
      buckets: [1, 10, 50, 100, 250, 500, 1000, 2000, 5000],
      registers,
    }),
  };
}
