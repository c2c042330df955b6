/**
 * Random access to the bytes of a workflow file, so that a 1 GiB video or PNG is never read
 * whole: the container readers ask for chunk headers and the metadata chunks they keep, and skip
 * the image and media data in between.
 */
export interface ByteSource {
  /** The file's length in bytes. */
  readonly size: number;
  /**
   * The bytes `[offset, offset + length)`, fewer when the file ends first. The array may be a
   * view of a shared window: copy it (`slice`) to keep it past the next read.
   */
  read(offset: number, length: number): Promise<Uint8Array>;
}

/** Bytes fetched from a Blob per read when less is asked: one window serves many chunk headers. */
const WINDOW_BYTES = 64 * 1024;

/**
 * A {@link ByteSource} over bytes in memory (views, no copies) or over a `Blob` — for a file,
 * `fs.openAsBlob(path)`, which reads from disk only the slices asked for. Memory held by a Blob
 * source: one window of at most 64 KiB, or the one larger slice last asked for.
 */
export function byteSource(input: Uint8Array | Blob): ByteSource {
  if (input instanceof Uint8Array) {
    return {
      size: input.length,
      read: async (offset, length) =>
        input.subarray(Math.min(offset, input.length), Math.min(offset + length, input.length)),
    };
  }
  let windowStart = 0;
  let window = new Uint8Array(0);
  return {
    size: input.size,
    async read(offset, length) {
      const end = Math.min(offset + length, input.size);
      if (offset >= windowStart && end <= windowStart + window.length)
        return window.subarray(offset - windowStart, end - windowStart);
      const to = Math.min(input.size, Math.max(end, offset + WINDOW_BYTES));
      window = new Uint8Array(await input.slice(offset, to).arrayBuffer());
      windowStart = offset;
      return window.subarray(0, Math.max(0, end - offset));
    },
  };
}
