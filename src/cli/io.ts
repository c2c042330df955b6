/** Where commands write: stdout for results, stderr for progress, warnings and errors. */
export interface CliIo {
  /** A result line (stdout). */
  out(text: string): void;
  /** A progress or status line (stderr, so stdout stays machine-readable). */
  info(text: string): void;
  warn(text: string): void;
  error(text: string): void;
}

/** The process's own streams. */
export const processIo: CliIo = {
  out: (t) => void process.stdout.write(`${t}\n`),
  info: (t) => void process.stderr.write(`${t}\n`),
  warn: (t) => void process.stderr.write(`${t}\n`),
  error: (t) => void process.stderr.write(`${t}\n`),
};
