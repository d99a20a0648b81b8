import type { Config } from '../platform/config.ts';
import type { Logger } from '../platform/logger.ts';
import { startService, type RunningService } from '../platform/runtime.ts';

/** The admin module: identity (service accounts, tokens, JWKS), signing keys, the audit read side and Bull Board. */
export function start(config: Config, options: { logger?: Logger } = {}): Promise<RunningService> {
  return startService(config, { logger: options.logger });
}
