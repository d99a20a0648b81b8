import type { FileRecord } from '../platform/db/client.ts';

/** What the API shows of a file. */
export interface FileView {
  id: string;
  original_name: string;
  size: number;
  sha256: string;
  content_type: string;
  owner_id: string;
  storage_element_id: string;
  created_at: string;
}

export function toFileView(file: FileRecord): FileView {
  return {
    id: file.id,
    original_name: file.originalName,
    size: Number(file.size),
    sha256: file.sha256,
    content_type: file.contentType,
    owner_id: file.ownerId,
    storage_element_id: file.storageElementId,
    created_at: file.createdAt.toISOString(),
  };
}
