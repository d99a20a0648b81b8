import { collectDefaultMetrics, Counter, Histogram, Registry } from 'prom-client';

/** One registry per process (or per in-process test instance), labelled with the service name. */
export interface ServiceMetrics {
  registry: Registry;
  httpRequests: Counter<'method' | 'route' | 'status'>;
  httpDuration: Histogram<'method' | 'route' | 'status'>;
  corsRejections: Counter;
  tokensVerified: Counter<'result'>;
}

export function createServiceMetrics(service: string): ServiceMetrics {
  const registry = new Registry();
  registry.setDefaultLabels({ service });
  collectDefaultMetrics({ register: registry });
  // Gauges misnamed *_total by prom-client, duplicating nodejs_active_handles/requests/resources.
  for (const name of ['nodejs_active_handles_total', 'nodejs_active_requests_total', 'nodejs_active_resources_total']) {
    registry.removeSingleMetric(name);
  }
  return {
    registry,
    httpRequests: new Counter({
      name: 'http_requests_total',
      help: 'HTTP requests answered, by method, route template and status code',
      labelNames: ['method', 'route', 'status'],
      registers: [registry],
    }),
    httpDuration: new Histogram({
      name: 'http_request_duration_seconds',
      help: 'Time to answer an HTTP request, by method, route template and status code',
      labelNames: ['method', 'route', 'status'],
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers: [registry],
    }),
    corsRejections: new Counter({
      name: 'cors_rejections_total',
      help: 'Requests whose Origin is not on the CORS whitelist',
      registers: [registry],
    }),
    tokensVerified: new Counter({
      name: 'jwt_tokens_verified_total',
      help: 'Bearer tokens checked, by result (valid, expired, invalid, unknown_kid, unavailable, forbidden)',
      labelNames: ['result'],
      registers: [registry],
    }),
  };
}
