-- Signed digests of the audit chains (docs/AUDIT_LOGGING.md "Signed digests"): Ed25519 keys that
-- are not the HMAC key, and the digests they sign, which are also written outside PostgreSQL.

CREATE TYPE "audit_digest_key_state" AS ENUM ('next', 'active', 'grace', 'retired');

-- A digest key's public JWK is published for as long as digests are kept (seven years), so a row
-- is never deleted and its public half never changes; only the encrypted private half is dropped
-- when the key retires.
CREATE TABLE "audit_digest_keys" (
    "id" SERIAL NOT NULL,
    "kid" VARCHAR(64) NOT NULL,
    "algorithm" VARCHAR(10) NOT NULL DEFAULT 'EdDSA',
    "public_key" TEXT NOT NULL,
    "private_key" TEXT,
    "state" "audit_digest_key_state" NOT NULL,
    "rotation_count" INTEGER NOT NULL DEFAULT 0,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "activates_at" TIMESTAMPTZ(3),
    "activated_at" TIMESTAMPTZ(3),
    "deactivated_at" TIMESTAMPTZ(3),
    "retired_at" TIMESTAMPTZ(3),

    CONSTRAINT "audit_digest_keys_pkey" PRIMARY KEY ("id"),
    CONSTRAINT "audit_digest_keys_private_until_retired" CHECK (("state" = 'retired') = ("private_key" IS NULL))
);

CREATE UNIQUE INDEX "audit_digest_keys_kid_key" ON "audit_digest_keys"("kid");
CREATE UNIQUE INDEX "audit_digest_keys_one_active" ON "audit_digest_keys"("state") WHERE "state" = 'active';
CREATE UNIQUE INDEX "audit_digest_keys_one_next" ON "audit_digest_keys"("state") WHERE "state" = 'next';

CREATE FUNCTION "audit_digest_keys_keep_public"() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'DELETE' THEN
    RAISE EXCEPTION 'audit digest keys are never deleted: digests they signed must stay verifiable';
  END IF;
  IF NEW."kid" <> OLD."kid" OR NEW."public_key" <> OLD."public_key" OR NEW."algorithm" <> OLD."algorithm" THEN
    RAISE EXCEPTION 'the public half of an audit digest key never changes';
  END IF;
  RETURN NEW;
END $$;

CREATE TRIGGER "audit_digest_keys_keep_public" BEFORE UPDATE OR DELETE ON "audit_digest_keys"
    FOR EACH ROW EXECUTE FUNCTION "audit_digest_keys_keep_public"();

-- The digests of each chain, numbered 1, 2, 3 … ("seq"); each names the signature of the one
-- before, and the keys below allow one successor per digest, so the digests of a chain form one
-- line. "body" is the digest exactly as signed, the line written to the sink.
CREATE TABLE "audit_digests" (
    "chain_id" INTEGER NOT NULL,
    "seq" BIGINT NOT NULL,
    "kind" VARCHAR(10) NOT NULL,
    "tree_size" BIGINT NOT NULL,
    "last_sequence" BIGINT NOT NULL,
    "issued_at" TIMESTAMPTZ(3) NOT NULL,
    "key_id" VARCHAR(64) NOT NULL,
    "signature" VARCHAR(100) NOT NULL,
    "previous_signature" VARCHAR(100),
    "body" TEXT NOT NULL,

    CONSTRAINT "audit_digests_pkey" PRIMARY KEY ("chain_id", "seq"),
    CONSTRAINT "audit_digests_kind" CHECK ("kind" IN ('tree', 'anchor')),
    CONSTRAINT "audit_digests_first_has_no_previous" CHECK (("seq" = 1) = ("previous_signature" IS NULL))
);

CREATE UNIQUE INDEX "audit_digests_signature_key" ON "audit_digests"("signature");
CREATE UNIQUE INDEX "audit_digests_one_successor" ON "audit_digests"("chain_id", "previous_signature");
