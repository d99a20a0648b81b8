import { setUpInfra, tearDownInfra } from './support/infra.ts';

/** Mocha root hooks: one database and BullMQ prefix for the whole run, removed at the end. */
export const mochaHooks = {
  async beforeAll(this: Mocha.Context) {
    this.timeout(60_000);
    await setUpInfra(process.env);
  },
  async afterAll(this: Mocha.Context) {
    this.timeout(60_000);
    await tearDownInfra();
  },
};
