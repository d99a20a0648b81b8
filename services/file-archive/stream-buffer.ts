/**
 * Buffer size for streams that carry file content (sockets, file reads and writes, multipart
 * parts): a 1 GiB file moves in about a thousand 1 MiB steps instead of sixteen thousand 64 KiB
 * ones, each of which would pause and resume the stream before it. It bounds how much one transfer
 * holds in memory, not what is allocated up front.
 */
export const FILE_STREAM_BUFFER_BYTES = 1 << 20;
