import { align, group, ifBreak, indent, join, line, softline, type Doc } from "./layout.js";

/**
 * Layout of the TypeScript type expressions codegen writes, as prettier prints them: the type
 * text an emitter produced is parsed back into a small tree (only the forms emitters use) and
 * turned into a layout document with prettier's rules for unions, type arguments, arrays,
 * tuples and object types. Used only for lines too long to stay on one line.
 */

type TypeNode =
  | { readonly k: "atom"; readonly text: string }
  | { readonly k: "union"; readonly members: readonly TypeNode[] }
  | { readonly k: "ref"; readonly name: string; readonly args: readonly TypeNode[] }
  | { readonly k: "array"; readonly element: TypeNode }
  | { readonly k: "readonly"; readonly type: TypeNode }
  | { readonly k: "paren"; readonly type: TypeNode }
  | { readonly k: "tuple"; readonly elements: readonly TypeNode[] }
  | { readonly k: "rest"; readonly type: TypeNode }
  | { readonly k: "object"; readonly members: readonly MemberNode[] };

interface MemberNode {
  /** `readonly name?` */
  readonly head: string;
  readonly type: TypeNode;
}

/** The layout of `head: type` as a member of an interface or object type (no `;`). */
export function propertyDoc(head: string, type: string): Doc {
  return memberDoc({ head, type: parseType(type) });
}

/** The layout of a type expression in a position without special rules. */
export function typeDoc(type: string): Doc {
  return printType(parseType(type));
}

function memberDoc(member: MemberNode): Doc {
  // A union that does not fit moves to its own line first, and only then breaks at `|`.
  if (member.type.k === "union") {
    return [member.head, ":", group(indent([line, unionGroup(member.type)]))];
  }
  return [member.head, ": ", printType(member.type)];
}

/** A union that, when broken, puts each member on its own line after `| `. */
function unionGroup(union: Extract<TypeNode, { k: "union" }>): Doc {
  return group([ifBreak("| "), unionMembers(union)]);
}

function unionMembers(union: Extract<TypeNode, { k: "union" }>): Doc {
  return join(
    [line, "| "],
    union.members.map((m) => align(2, printType(m))),
  );
}

function printType(node: TypeNode): Doc {
  switch (node.k) {
    case "atom":
      return node.text;
    case "union":
      return group(indent([ifBreak([line, "| "]), unionMembers(node)]));
    case "ref": {
      if (node.args.length === 0) return node.name;
      const only = node.args.length === 1 ? node.args[0]! : undefined;
      if (only && (only.k === "atom" || only.k === "object")) {
        return [node.name, "<", printType(only), ">"];
      }
      // Type arguments: no indentation for a union inside, no trailing comma.
      const args = node.args.map((a) => (a.k === "union" ? unionGroup(a) : printType(a)));
      return group([node.name, "<", indent([softline, join([",", line], args)]), softline, ">"]);
    }
    case "array":
      return [printType(node.element), "[]"];
    case "readonly":
      return ["readonly ", printType(node.type)];
    case "paren":
      if (node.type.k === "union") {
        return ["(", group([indent([softline, unionGroup(node.type)]), softline]), ")"];
      }
      return ["(", printType(node.type), ")"];
    case "rest":
      return ["...", printType(node.type)];
    case "tuple": {
      const several = node.elements.length > 1;
      const elements = node.elements.map((e) =>
        e.k === "union" && several
          ? group([ifBreak("("), indent([softline, unionGroup(e)]), softline, ifBreak(")")])
          : printType(e),
      );
      return group([
        "[",
        indent([softline, join([",", line], elements)]),
        ifBreak(","),
        softline,
        "]",
      ]);
    }
    case "object":
      if (node.members.length === 0) return "{}";
      return group([
        "{",
        indent([line, join([";", line], node.members.map(memberDoc))]),
        ifBreak(";"),
        line,
        "}",
      ]);
  }
}

/** Parses the type text an emitter produced. Throws on anything outside codegen's forms. */
export function parseType(text: string): TypeNode {
  const p = new Parser(text);
  const node = p.union();
  p.skip();
  if (p.i !== text.length) p.fail("end of type");
  return node;
}

const IDENTIFIER = /[\p{ID_Start}$_][\p{ID_Continue}$\u200c\u200d]*/uy;
const NUMBER = /-?\d[\d.]*(?:e[+-]?\d+)?n?/iy;

class Parser {
  i = 0;
  constructor(readonly s: string) {}

  fail(expected: string): never {
    throw new TypeError(`codegen printer: expected ${expected} at ${this.i} in ${this.s}`);
  }

  skip(): void {
    while (this.s[this.i] === " ") this.i++;
  }

  peek(token: string): boolean {
    this.skip();
    return this.s.startsWith(token, this.i);
  }

  eat(token: string): boolean {
    if (!this.peek(token)) return false;
    this.i += token.length;
    return true;
  }

  expect(token: string): void {
    if (!this.eat(token)) this.fail(JSON.stringify(token));
  }

  union(): TypeNode {
    const members = [this.intersection()];
    while (this.eat("|")) members.push(this.intersection());
    if (members.length === 1) return members[0]!;
    return { k: "union", members };
  }

  intersection(): TypeNode {
    this.skip();
    const start = this.i;
    const first = this.postfix();
    if (!this.peek("&")) return first;
    while (this.eat("&")) this.postfix();
    // Intersections are only ever short (`string & {}`): kept as written.
    return { k: "atom", text: this.s.slice(start, this.i).trim() };
  }

  postfix(): TypeNode {
    this.skip();
    const start = this.i;
    if (this.word("readonly")) return { k: "readonly", type: this.postfix() };
    let node = this.primary();
    while (this.s[this.i] === "[") {
      if (this.s[this.i + 1] === "]") {
        this.i += 2;
        node = { k: "array", element: node };
      } else {
        this.i++;
        this.union();
        this.expect("]");
        node = { k: "atom", text: this.s.slice(start, this.i) };
      }
    }
    return node;
  }

  /** Consumes `w` followed by a space. */
  word(w: string): boolean {
    if (this.s.startsWith(`${w} `, this.i)) {
      this.i += w.length + 1;
      return true;
    }
    return false;
  }

  primary(): TypeNode {
    this.skip();
    const start = this.i;
    const c = this.s[this.i];
    if (c === "(") {
      this.i++;
      const type = this.union();
      this.expect(")");
      return type.k === "union"
        ? { k: "paren", type }
        : { k: "atom", text: this.s.slice(start, this.i) };
    }
    if (c === "{") {
      this.i++;
      const members: MemberNode[] = [];
      while (!this.eat("}")) {
        this.skip();
        const headStart = this.i;
        this.word("readonly");
        this.key();
        this.eat("?");
        const head = this.s.slice(headStart, this.i);
        this.expect(":");
        members.push({ head, type: this.union() });
        if (!this.eat(";")) this.eat(",");
      }
      return { k: "object", members };
    }
    if (c === "[") {
      this.i++;
      const elements: TypeNode[] = [];
      while (!this.eat("]")) {
        elements.push(this.eat("...") ? { k: "rest", type: this.postfix() } : this.union());
        this.eat(",");
      }
      return { k: "tuple", elements };
    }
    if (c === '"' || c === "'") {
      this.string();
      return { k: "atom", text: this.s.slice(start, this.i) };
    }
    if (this.word("typeof")) {
      this.identifier();
      return { k: "atom", text: this.s.slice(start, this.i) };
    }
    NUMBER.lastIndex = this.i;
    const number = NUMBER.exec(this.s);
    if (number) {
      this.i += number[0].length;
      return { k: "atom", text: number[0] };
    }
    const name = this.identifier();
    if (this.s[this.i] !== "<") return { k: "atom", text: name };
    this.i++;
    const args = [this.union()];
    while (this.eat(",")) args.push(this.union());
    this.expect(">");
    return { k: "ref", name, args };
  }

  key(): void {
    const c = this.s[this.i];
    if (c === '"' || c === "'") this.string();
    else this.identifier();
  }

  identifier(): string {
    IDENTIFIER.lastIndex = this.i;
    const m = IDENTIFIER.exec(this.s);
    if (!m) this.fail("a type");
    this.i += m[0].length;
    return m[0];
  }

  string(): void {
    const quote = this.s[this.i]!;
    this.i++;
    while (this.i < this.s.length && this.s[this.i] !== quote) {
      if (this.s[this.i] === "\\") this.i++;
      this.i++;
    }
    if (this.i >= this.s.length) this.fail("end of string");
    this.i++;
  }
}
