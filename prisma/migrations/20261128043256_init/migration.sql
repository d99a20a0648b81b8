-- CreateEnum
CREATE TYPE "service_account_role" AS ENUM ('admin', 'ingester', 'reader', 'storage');

-- CreateEnum
CREATE TYPE "service_account_status" AS ENUM ('active', 'suspended');

-- CreateEnum
CREATE TYPE "jwt_key_state" AS ENUM ('next', 'active', 'grace', 'retired', 'revoked');

-- CreateTable
CREATE TABLE "service_accounts" (
    "id" UUID NOT NULL DEFAULT gen_random_uuid(),
    "client_id" TEXT NOT NULL,
    "name" TEXT NOT NULL,
    "role" "service_account_role" NOT NULL,
    "status" "service_account_status" NOT NULL DEFAULT 'active',
    "secret_hash" TEXT NOT NULL,
    "previous_secret_hash" TEXT,
    "previous_secret_expires_at" TIMESTAMPTZ(6),
    "created_at" TIMESTAMPTZ(6) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updated_at" TIMESTAMPTZ(6) NOT NULL,
    "last_used_at" TIMESTAMPTZ(6),

    CONSTRAINT "service_accounts_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "jwt_keys" (
    "id" SERIAL NOT NULL,
    "version" VARCHAR(36) NOT NULL,
    "private_key" TEXT NOT NULL,
    "public_key" TEXT NOT NULL,
    "algorithm" VARCHAR(10) NOT NULL DEFAULT 'RS256',
    "created_at" TIMESTAMPTZ(6) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "expires_at" TIMESTAMPTZ(6) NOT NULL,
    "is_active" BOOLEAN NOT NULL DEFAULT true,
    "rotation_count" INTEGER NOT NULL DEFAULT 0,
    "state" "jwt_key_state" NOT NULL,
    "activates_at" TIMESTAMPTZ(6),
    "activated_at" TIMESTAMPTZ(6),
    "grace_until" TIMESTAMPTZ(6),
    "retired_at" TIMESTAMPTZ(6),
    "revoked_at" TIMESTAMPTZ(6),

    CONSTRAINT "jwt_keys_pkey" PRIMARY KEY ("id")
);

-- CreateIndex
CREATE UNIQUE INDEX "service_accounts_client_id_key" ON "service_accounts"("client_id");

-- CreateIndex
CREATE UNIQUE INDEX "jwt_keys_version_key" ON "jwt_keys"("version");

-- CreateIndex
CREATE INDEX "idx_jwt_keys_active_version" ON "jwt_keys"("is_active", "version");

-- CreateIndex
CREATE INDEX "jwt_keys_state_idx" ON "jwt_keys"("state");

-- Hand-written: at most one signing key is active at a time. Prisma's schema cannot express a
-- partial index, and Migrate's introspection skips partial indexes, so later diffs leave it alone.
CREATE UNIQUE INDEX "jwt_keys_one_active_key" ON "jwt_keys"("state") WHERE "state" = 'active';
