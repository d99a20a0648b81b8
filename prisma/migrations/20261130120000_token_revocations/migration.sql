-- A not-before per service account: every token of the account issued before it is refused by
-- every verifier. No foreign key on purpose: a deleted account's row stays until its last token
-- has expired, so deleting an account cannot bring its tokens back.
CREATE TABLE "token_revocations" (
    "service_account_id" UUID NOT NULL,
    "not_before" TIMESTAMPTZ(3) NOT NULL,
    "reason" VARCHAR(30) NOT NULL,
    "updated_at" TIMESTAMPTZ(6) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "token_revocations_pkey" PRIMARY KEY ("service_account_id")
);

CREATE INDEX "idx_token_revocations_not_before" ON "token_revocations"("not_before");
