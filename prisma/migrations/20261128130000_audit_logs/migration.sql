-- CreateTable
-- Hand-written: PARTITION BY RANGE ("recorded_at"), one partition per UTC month. Prisma's schema
-- cannot express partitioning. Monthly partitions are created ahead by the audit writer at start
-- and by the weekly cleanup (services/platform/audit/audit-partitions.ts), and retention drops
-- whole partitions. A primary key on a partitioned table must contain the partition key, hence
-- recorded_at in it; event_id uniqueness is kept by the writer under the chain-head row lock.
CREATE TABLE "audit_logs" (
    "event_id" UUID NOT NULL,
    "event_type" VARCHAR(50) NOT NULL,
    "event_category" VARCHAR(30) NOT NULL,
    "timestamp" TIMESTAMPTZ(3) NOT NULL,
    "user_id" VARCHAR(100),
    "service_account_id" VARCHAR(100),
    "ip_address" VARCHAR(45),
    "user_agent" TEXT,
    "resource_type" VARCHAR(50),
    "resource_id" VARCHAR(200),
    "action" VARCHAR(50) NOT NULL,
    "status" VARCHAR(20) NOT NULL,
    "details" JSONB,
    "source" VARCHAR(30) NOT NULL,
    "request_id" VARCHAR(128),
    "chain_id" INTEGER NOT NULL,
    "sequence" BIGINT NOT NULL,
    "prev_signature" VARCHAR(64),
    "key_id" VARCHAR(32) NOT NULL,
    "signature" VARCHAR(64) NOT NULL,
    "recorded_at" TIMESTAMPTZ(3) NOT NULL,

    CONSTRAINT "audit_logs_pkey" PRIMARY KEY ("chain_id","sequence","recorded_at")
) PARTITION BY RANGE ("recorded_at");

-- Hand-written: rows outside every monthly partition land here, so an insert never fails for a
-- missing partition; creating that month's partition later moves them out.
CREATE TABLE "audit_logs_default" PARTITION OF "audit_logs" DEFAULT;

-- CreateTable
CREATE TABLE "audit_chain_heads" (
    "chain_id" INTEGER NOT NULL,
    "sequence" BIGINT NOT NULL DEFAULT 0,
    "signature" VARCHAR(64),
    "recorded_at" TIMESTAMPTZ(3),
    "anchor_sequence" BIGINT NOT NULL DEFAULT 0,
    "anchor_signature" VARCHAR(64),
    "anchor_recorded_at" TIMESTAMPTZ(3),

    CONSTRAINT "audit_chain_heads_pkey" PRIMARY KEY ("chain_id")
);

-- CreateTable
CREATE TABLE "audit_checkpoints" (
    "id" BIGSERIAL NOT NULL,
    "chain_id" INTEGER NOT NULL,
    "sequence" BIGINT NOT NULL,
    "signature" VARCHAR(64) NOT NULL,
    "recorded_at" TIMESTAMPTZ(3) NOT NULL,
    "created_at" TIMESTAMPTZ(6) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "audit_checkpoints_pkey" PRIMARY KEY ("id")
);

-- CreateIndex
CREATE INDEX "idx_audit_logs_timestamp" ON "audit_logs"("timestamp");

-- CreateIndex
CREATE INDEX "idx_audit_logs_event_type" ON "audit_logs"("event_type");

-- CreateIndex
CREATE INDEX "idx_audit_logs_status" ON "audit_logs"("status");

-- CreateIndex
CREATE INDEX "idx_audit_logs_event_id" ON "audit_logs"("event_id");

-- CreateIndex
CREATE INDEX "idx_audit_checkpoints_chain_sequence" ON "audit_checkpoints"("chain_id", "sequence");
