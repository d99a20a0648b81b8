-- The internal certificate authority (docs/TLS.md): its roots and intermediate issuers. A row's
-- certificate never changes; its encrypted private key is dropped when it retires. Roots and
-- intermediates move next → active → grace → retired, at most one of each kind active and next.

CREATE TYPE "pki_authority_kind" AS ENUM ('root', 'intermediate');
CREATE TYPE "pki_authority_state" AS ENUM ('next', 'active', 'grace', 'retired');

CREATE TABLE "pki_authorities" (
    "id" SERIAL NOT NULL,
    "kind" "pki_authority_kind" NOT NULL,
    "state" "pki_authority_state" NOT NULL,
    -- SHA-256 of the certificate (DER), hex: how logs, events and metrics name it.
    "fingerprint" VARCHAR(64) NOT NULL,
    "certificate" TEXT NOT NULL,
    "private_key" TEXT,
    "issuer_id" INTEGER,
    "not_before" TIMESTAMPTZ(3) NOT NULL,
    "not_after" TIMESTAMPTZ(3) NOT NULL,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "activated_at" TIMESTAMPTZ(3),
    "deactivated_at" TIMESTAMPTZ(3),
    "retired_at" TIMESTAMPTZ(3),

    CONSTRAINT "pki_authorities_pkey" PRIMARY KEY ("id"),
    CONSTRAINT "pki_authorities_issuer_fkey" FOREIGN KEY ("issuer_id") REFERENCES "pki_authorities"("id"),
    CONSTRAINT "pki_authorities_private_until_retired" CHECK (("state" = 'retired') = ("private_key" IS NULL)),
    CONSTRAINT "pki_authorities_root_self_issued" CHECK (("kind" = 'root') = ("issuer_id" IS NULL))
);

CREATE UNIQUE INDEX "pki_authorities_fingerprint_key" ON "pki_authorities"("fingerprint");
CREATE UNIQUE INDEX "pki_authorities_one_active" ON "pki_authorities"("kind") WHERE "state" = 'active';
CREATE UNIQUE INDEX "pki_authorities_one_next" ON "pki_authorities"("kind") WHERE "state" = 'next';
