/**
 * `str(tensor)` of a CPU float32 tensor, as torch prints it (`torch/_tensor_str.py`, torch 1.13,
 * the build the real ComfyUI releases run on): what a real server shows for an IMAGE in
 * `execution_error.current_inputs` (`execution.py` `format_value`) and in PreviewAny's text.
 *
 * Default print options: 4 digits of precision, summarised with `...` above 1,000 elements
 * (`edgeitems` per edge, 3 unless the caller changed it: PreviewAny of 0.33.0 prints with 6),
 * 80 columns.
 */

/** A dense float32 tensor: its shape and its values in row-major order. */
export interface Float32Tensor {
  readonly shape: readonly number[];
  readonly data: Float32Array;
}

/** `torch.set_printoptions` values that matter here. */
export interface TorchPrintOptions {
  /** Items shown at each edge of a summarised dimension (torch default 3). */
  readonly edgeitems?: number;
}

const PRECISION = 4;
const THRESHOLD = 1000;
const LINEWIDTH = 80;

/**
 * `str(tensor)`: `tensor([[…]])` with torch's number formatter (fixed, integer or scientific
 * mode, right-aligned to the widest value) and line layout.
 *
 * @example torchRepr({ shape: [1, 2], data: new Float32Array([0.5, 1]) }) // "tensor([[0.5000, 1.0000]])"
 */
export function torchRepr(tensor: Float32Tensor, options: TorchPrintOptions = {}): string {
  const edge = options.edgeitems ?? 3;
  const prefix = "tensor(";
  if (tensor.data.length === 0) return `${prefix}[], size=(${tensor.shape.join(", ")}))`;
  const view = new View(tensor.shape, tensor.data, 0);
  const summarize = tensor.data.length > THRESHOLD;
  const formatter = new Formatter(summarize ? summarized(view, edge) : [...tensor.data]);
  return `${prefix}${tensorStr(view, prefix.length, summarize, formatter, edge)})`;
}

/** A sub-tensor: a shape and an offset into the shared data. */
class View {
  constructor(
    readonly shape: readonly number[],
    readonly data: Float32Array,
    readonly offset: number,
  ) {}
  get stride(): number {
    return this.shape.slice(1).reduce((a, b) => a * b, 1);
  }
  at(i: number): View {
    return new View(this.shape.slice(1), this.data, this.offset + i * this.stride);
  }
  values(): number[] {
    return [...this.data.subarray(this.offset, this.offset + this.shape[0]!)];
  }
}

/** `get_summarized_data`: the values the formatter sizes itself on when summarising. */
function summarized(v: View, edge: number): number[] {
  const size = v.shape[0]!;
  const picks =
    size > 2 * edge
      ? [...Array(edge).keys(), ...Array.from({ length: edge }, (_, k) => size - edge + k)]
      : [...Array(size).keys()];
  if (v.shape.length === 1) return picks.map((i) => v.data[v.offset + i]!);
  return picks.flatMap((i) => summarized(v.at(i), edge));
}

/** `_Formatter`: one number format and width for every element of the tensor. */
class Formatter {
  intMode = true;
  sciMode = false;
  width = 1;

  constructor(values: readonly number[]) {
    const nonzero = values.filter((x) => Number.isFinite(x) && x !== 0);
    if (nonzero.length === 0) return;
    const abs = nonzero.map(Math.abs);
    const min = Math.min(...abs);
    const max = Math.max(...abs);
    this.intMode = nonzero.every((x) => x === Math.ceil(x));
    const wide = max / min > 1000 || max > 1e8;
    if (this.intMode) {
      this.sciMode = wide;
      for (const x of nonzero)
        this.width = Math.max(
          this.width,
          this.sciMode ? pyExponential(x, PRECISION).length : pyFixed(x, 0).length + 1,
        );
    } else {
      this.sciMode = wide || min < 1e-4;
      for (const x of nonzero)
        this.width = Math.max(
          this.width,
          (this.sciMode ? pyExponential(x, PRECISION) : pyFixed(x, PRECISION)).length,
        );
    }
  }

  format(x: number): string {
    let s: string;
    if (this.sciMode) s = pyExponential(x, PRECISION);
    else if (this.intMode) s = pyFixed(x, 0) + (Number.isFinite(x) ? "." : "");
    else s = pyFixed(x, PRECISION);
    return s.padStart(this.width, " ");
  }
}

/** `_tensor_str_with_formatter` for dimensions ≥ 1. */
function tensorStr(
  v: View,
  indent: number,
  summarize: boolean,
  f: Formatter,
  edge: number,
): string {
  const size = v.shape[0]!;
  const cut = summarize && size > 2 * edge;
  if (v.shape.length === 1) {
    const all = v.values();
    const items = cut
      ? [
          ...all.slice(0, edge).map((x) => f.format(x)),
          " ...",
          ...all.slice(-edge).map((x) => f.format(x)),
        ]
      : all.map((x) => f.format(x));
    const perLine = Math.max(1, Math.floor((LINEWIDTH - indent) / (f.width + 2)));
    const lines: string[] = [];
    for (let i = 0; i < items.length; i += perLine)
      lines.push(items.slice(i, i + perLine).join(", "));
    return `[${lines.join(`,\n${" ".repeat(indent + 1)}`)}]`;
  }
  const sub = (i: number) => tensorStr(v.at(i), indent + 1, summarize, f, edge);
  const slices = cut
    ? [
        ...Array.from({ length: edge }, (_, i) => sub(i)),
        "...",
        ...Array.from({ length: edge }, (_, k) => sub(size - edge + k)),
      ]
    : Array.from({ length: size }, (_, i) => sub(i));
  const sep = `,${"\n".repeat(v.shape.length - 1)}${" ".repeat(indent + 1)}`;
  return `[${slices.join(sep)}]`;
}

function special(x: number): string | undefined {
  if (Number.isNaN(x)) return "nan";
  if (!Number.isFinite(x)) return x > 0 ? "inf" : "-inf";
  return undefined;
}

/**
 * The exact decimal digits of a finite double's magnitude below 1e21, as an integer part and a
 * 100-digit fraction (every float32 value and every double that matters here is exact there).
 */
function exactDigits(x: number): { int: string; frac: string } {
  const [int, frac = ""] = Math.abs(x).toFixed(100).split(".");
  return { int: int!, frac };
}

/** Rounds a digit string (no point) to its first `keep` digits, ties to even (Python's rule). */
function roundDigits(digits: string, keep: number): { digits: string; carried: boolean } {
  const head = digits.slice(0, keep);
  const rest = digits.slice(keep);
  const up =
    rest[0] !== undefined &&
    (rest[0] > "5" ||
      (rest[0] === "5" && (/[1-9]/.test(rest.slice(1)) || Number(head.at(-1) ?? "0") % 2 === 1)));
  if (!up) return { digits: head, carried: false };
  const n = (BigInt(head || "0") + 1n).toString().padStart(head.length, "0");
  return n.length > head.length ? { digits: n, carried: true } : { digits: n, carried: false };
}

/** Python's `"{:.Nf}".format(x)`: round half to even on the exact binary value. */
export function pyFixed(x: number, precision: number): string {
  const s = special(x);
  if (s) return s;
  const sign = x < 0 || Object.is(x, -0) ? "-" : "";
  if (Math.abs(x) >= 1e21)
    return (
      sign +
      BigInt(Math.round(Math.abs(x))).toString() +
      (precision ? `.${"0".repeat(precision)}` : "")
    );
  const { int, frac } = exactDigits(x);
  const { digits } = roundDigits(int + frac, int.length + precision);
  const intPart = digits.slice(0, digits.length - precision).replace(/^0+(?=\d)/, "") || "0";
  return sign + intPart + (precision ? `.${digits.slice(digits.length - precision)}` : "");
}

/** Python's `"{:.Ne}".format(x)`: `d.dddde±XX`, round half to even, two exponent digits at least. */
export function pyExponential(x: number, precision: number): string {
  const s = special(x);
  if (s) return s;
  const sign = x < 0 || Object.is(x, -0) ? "-" : "";
  if (x === 0) return `${sign}0.${"0".repeat(precision)}e+00`;
  let mantissa: string;
  let exp: number;
  if (Math.abs(x) >= 1e21) {
    const [m, e] = Math.abs(x).toExponential(precision).split("e");
    mantissa = m!.replace(".", "");
    exp = Number(e);
  } else {
    const { int, frac } = exactDigits(x);
    const all = int + frac;
    const first = all.search(/[1-9]/);
    exp = int.length - 1 - first;
    const r = roundDigits(all.slice(first), precision + 1);
    mantissa = r.digits;
    if (r.carried) {
      mantissa = mantissa.slice(0, precision + 1);
      exp += 1;
    }
  }
  const e = `${exp < 0 ? "-" : "+"}${String(Math.abs(exp)).padStart(2, "0")}`;
  return `${sign}${mantissa[0]}${precision ? `.${mantissa.slice(1)}` : ""}e${e}`;
}
