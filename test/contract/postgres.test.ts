import { PostgresStore } from '../../src/server/store/PostgresStore.js';
import { postgresTest } from '../helpers/postgres.js';
import { describeMessageStore } from './messageStore.contract.js';

const pg = postgresTest();

pg.describe('PostgreSQL', () => {
  describeMessageStore('PostgresStore', {
    reset: () => pg.reset(),
    async open(options = {}) {
      return PostgresStore.open({ connectionString: await pg.url(), poolSize: 4, ...options });
    },
  });
});
