import { PyFloat } from "./python-float.js";

/** One queued prompt: `[number, prompt_id, prompt, extra_data, outputs_to_execute]` (§7.1). */
export interface QueueItem {
  readonly number: number;
  /**
   * The client gave the number (`POST /prompt` `number`): `server.py` keeps
   * `float(json_data['number'])`, which `/queue`, history and the jobs API write as a float
   * (`5.0`); the server's own count is an int.
   */
  readonly clientNumber?: boolean;
  readonly promptId: string;
  readonly prompt: Record<string, unknown>;
  readonly extraData: Record<string, unknown>;
  readonly outputs: readonly string[];
  /** Sensitive extra data the server keeps out of `/queue` and history. */
  readonly sensitive: Record<string, unknown>;
}

/** The item as `/queue` and history show it. */
export function queueTuple(
  item: QueueItem,
): [number | PyFloat, string, Record<string, unknown>, Record<string, unknown>, string[]] {
  return [queueNumber(item), item.promptId, item.prompt, item.extraData, [...item.outputs]];
}

/** The item's number as the server writes it: a float when the client gave it. */
export function queueNumber(item: QueueItem): number | PyFloat {
  return item.clientNumber ? new PyFloat(item.number) : item.number;
}

const before = (a: QueueItem, b: QueueItem) =>
  a.number < b.number || (a.number === b.number && a.promptId < b.promptId);

/**
 * ComfyUI's pending queue: a binary min-heap on `(number, prompt_id)`. `items` is the raw
 * heap array, which `/queue` returns unsorted, as the server does.
 */
export class PromptHeap {
  readonly items: QueueItem[] = [];

  push(item: QueueItem): void {
    const a = this.items;
    a.push(item);
    let i = a.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!before(a[i]!, a[parent]!)) break;
      [a[i], a[parent]] = [a[parent]!, a[i]!];
      i = parent;
    }
  }

  pop(): QueueItem | undefined {
    const a = this.items;
    if (a.length === 0) return undefined;
    const top = a[0]!;
    const last = a.pop()!;
    if (a.length > 0) {
      a[0] = last;
      this.#siftDown(0);
    }
    return top;
  }

  /** Removes the first item matching, keeping the heap valid (Python: remove + heapify). */
  remove(match: (item: QueueItem) => boolean): QueueItem | undefined {
    const index = this.items.findIndex(match);
    if (index < 0) return undefined;
    const [removed] = this.items.splice(index, 1);
    for (let i = (this.items.length >> 1) - 1; i >= 0; i--) this.#siftDown(i);
    return removed;
  }

  clear(): void {
    this.items.length = 0;
  }

  get size(): number {
    return this.items.length;
  }

  #siftDown(start: number): void {
    const a = this.items;
    let i = start;
    for (;;) {
      const l = 2 * i + 1;
      const r = l + 1;
      let m = i;
      if (l < a.length && before(a[l]!, a[m]!)) m = l;
      if (r < a.length && before(a[r]!, a[m]!)) m = r;
      if (m === i) return;
      [a[i], a[m]] = [a[m]!, a[i]!];
      i = m;
    }
  }
}
