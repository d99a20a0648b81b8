-- Not in schema.prisma (Prisma's extension support is a preview feature): the GIN index
-- "idx_files_name_trgm" needs pg_trgm's operator class. pg_trgm ships with PostgreSQL's contrib
-- and is a trusted extension, so the database owner may create it.
CREATE EXTENSION IF NOT EXISTS "pg_trgm";

-- CreateTable
CREATE TABLE "storage_elements" (
    "id" VARCHAR(50) NOT NULL,
    "base_url" VARCHAR(2048) NOT NULL,
    "created_at" TIMESTAMPTZ(6) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updated_at" TIMESTAMPTZ(6) NOT NULL,

    CONSTRAINT "storage_elements_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "files" (
    "id" UUID NOT NULL DEFAULT gen_random_uuid(),
    "original_name" VARCHAR(255) NOT NULL,
    "name_folded" TEXT NOT NULL,
    "size" BIGINT NOT NULL,
    "sha256" CHAR(64) NOT NULL,
    "content_type" VARCHAR(255) NOT NULL,
    "owner_id" UUID NOT NULL,
    "storage_element_id" VARCHAR(50) NOT NULL,
    "created_at" TIMESTAMPTZ(6) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "files_pkey" PRIMARY KEY ("id")
);

-- CreateIndex
CREATE INDEX "idx_files_created" ON "files"("created_at" DESC, "id" DESC);

-- CreateIndex
CREATE INDEX "idx_files_name_trgm" ON "files" USING GIN ("name_folded" gin_trgm_ops);

-- CreateIndex
CREATE INDEX "idx_files_owner_created" ON "files"("owner_id", "created_at" DESC);

-- CreateIndex
CREATE INDEX "idx_files_content_type_created" ON "files"("content_type", "created_at" DESC);

-- CreateIndex
CREATE INDEX "idx_files_size" ON "files"("size");

-- CreateIndex
CREATE INDEX "idx_files_element_sha256" ON "files"("storage_element_id", "sha256");

-- AddForeignKey
ALTER TABLE "files" ADD CONSTRAINT "files_storage_element_id_fkey" FOREIGN KEY ("storage_element_id") REFERENCES "storage_elements"("id") ON DELETE RESTRICT ON UPDATE CASCADE;
