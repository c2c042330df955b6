/**
 * The top-level statements emitters produce and the printer lays out: plain data, one kind per
 * shape codegen writes. TSDoc texts are already escaped (`docText`), names already quoted
 * (`propertyName`), types are TypeScript type expressions as text.
 */

/** `import { a, b } from "m";` or `import type { … }`. */
export interface ImportStatement {
  readonly kind: "import";
  readonly typeOnly: boolean;
  readonly names: readonly string[];
  readonly from: string;
}

/** `export * as name from "./m.js";` */
export interface ExportAllStatement {
  readonly kind: "export-all";
  readonly name: string;
  readonly from: string;
}

/** One member of an interface or object type. */
export interface PropertySignature {
  readonly name: string;
  readonly type: string;
  readonly optional?: boolean;
  readonly readonly?: boolean;
  readonly docs?: string;
}

/** `export interface Name extends A, B { … }` */
export interface InterfaceStatement {
  readonly kind: "interface";
  readonly name: string;
  readonly extends: readonly string[];
  readonly docs?: string;
  readonly properties: readonly PropertySignature[];
}

/** `export declare const name: Type;` */
export interface DeclareConstStatement {
  readonly kind: "declare-const";
  readonly name: string;
  readonly type: string;
  readonly docs?: string;
}

/**
 * `export declare const name: { readonly key: readonly [values…]; … };`, always written
 * expanded, one key per line.
 */
export interface DeclareTableStatement {
  readonly kind: "declare-table";
  readonly name: string;
  readonly entries: readonly (readonly [key: string, values: readonly string[]])[];
  readonly docs?: string;
}

/** `export const name = callee(args…);`, the arguments already printed as expressions. */
export interface ConstCallStatement {
  readonly kind: "const-call";
  readonly name: string;
  readonly callee: string;
  readonly args: readonly string[];
  readonly docs?: string;
}

/** Any statement of a generated file. */
export type Statement =
  | ImportStatement
  | ExportAllStatement
  | InterfaceStatement
  | DeclareConstStatement
  | DeclareTableStatement
  | ConstCallStatement;
