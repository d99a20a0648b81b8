import { defineConfig } from 'prisma/config';

// Read DATABASE_URL directly rather than through env(): env() throws when the variable is unset,
// and `prisma generate` runs at `npm ci` time where no database exists.
export default defineConfig({
  schema: 'prisma/schema.prisma',
  migrations: { path: 'prisma/migrations' },
  datasource: { url: process.env.DATABASE_URL },
});
