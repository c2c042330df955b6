import { join } from "node:path";
import { Node, Project, SyntaxKind, type ClassDeclaration, type Expression } from "ts-morph";
import { describe, expect, test } from "vitest";
import {
  ComfycError,
  describeNodeErrors,
  GraphError,
  isComfycError,
  isWorkflow,
  workflow,
} from "comfyc";
import { EmptyImage } from "../../generated/core.js";
import { formatLimit } from "../../src/protocol/integers.js";
import { ROOT } from "../helpers.js";

/** Every class in src/ that extends ComfycError, directly or through another subclass. */
function errorClasses(project: Project): Map<string, ClassDeclaration> {
  const all = project.getSourceFiles().flatMap((f) => f.getClasses());
  const found = new Map<string, ClassDeclaration>();
  let grew = true;
  while (grew) {
    grew = false;
    for (const cls of all) {
      const name = cls.getName();
      const base = cls.getExtends()?.getExpression().getText();
      if (!name || found.has(name) || !base) continue;
      if (base === "ComfycError" || found.has(base)) {
        found.set(name, cls);
        grew = true;
      }
    }
  }
  return found;
}

/** Why an argument passed as a hint may be empty, or undefined when it cannot be. */
function emptyHint(arg: Expression | undefined): string | undefined {
  if (!arg) return "no hint argument";
  if (arg.getText() === "undefined") return "hint is undefined";
  if (Node.isStringLiteral(arg) || Node.isNoSubstitutionTemplateLiteral(arg))
    return arg.getLiteralText().trim() === "" ? "hint is an empty string" : undefined;
  if (Node.isConditionalExpression(arg))
    return emptyHint(arg.getWhenTrue()) ?? emptyHint(arg.getWhenFalse());
  return undefined;
}

describe("errors", () => {
  test("every construction of a comfyc error in src/ passes a non-empty hint", () => {
    // Syntax only (no type checker): every source file of the package.
    const project = new Project({
      skipFileDependencyResolution: true,
      useInMemoryFileSystem: false,
    });
    project.addSourceFilesAtPaths(join(ROOT, "src", "**", "*.ts"));
    const classes = errorClasses(project);
    expect(classes.size).toBeGreaterThan(8);
    // Where the hint sits in each constructor: ComfycError's third parameter, or a subclass's own
    // `hint` parameter (then its callers are checked), else its super() call is checked.
    const hintIndex = new Map<string, number>([["ComfycError", 2]]);
    for (const [name, cls] of classes) {
      const ctor = cls.getConstructors()[0];
      const index = ctor?.getParameters().findIndex((p) => p.getName() === "hint") ?? -1;
      if (index >= 0) hintIndex.set(name, index);
    }
    const problems: string[] = [];
    let checked = 0;
    for (const file of project.getSourceFiles()) {
      // A class of the same name declared here that is not a comfyc error shadows ours.
      const shadowed = new Set(
        file
          .getClasses()
          .filter((c) => classes.get(c.getName() ?? "") !== c)
          .map((c) => c.getName()),
      );
      for (const call of file.getDescendantsOfKind(SyntaxKind.NewExpression)) {
        const name = call.getExpression().getText();
        const index = hintIndex.get(name);
        if (index === undefined || shadowed.has(name)) continue;
        checked++;
        const why = emptyHint(call.getArguments()[index] as Expression | undefined);
        if (why)
          problems.push(`${file.getBaseName()}:${call.getStartLineNumber()} new ${name}: ${why}`);
      }
      for (const cls of file.getClasses()) {
        const name = cls.getName();
        if (!name || !classes.has(name)) continue;
        const base = cls.getExtends()!.getExpression().getText();
        const index = hintIndex.get(base);
        if (index === undefined || hintIndex.has(name)) continue;
        for (const call of cls.getDescendantsOfKind(SyntaxKind.CallExpression)) {
          if (call.getExpression().getKind() !== SyntaxKind.SuperKeyword) continue;
          checked++;
          const why = emptyHint(call.getArguments()[index] as Expression | undefined);
          if (why)
            problems.push(
              `${file.getBaseName()}:${call.getStartLineNumber()} ${name} super(): ${why}`,
            );
        }
      }
    }
    expect(checked).toBeGreaterThan(50);
    expect(problems).toEqual([]);
  });

  test("isComfycError and isWorkflow recognise objects from another copy of the package", () => {
    // A second copy of comfyc has its own classes; only the Symbol.for brand is shared.
    const foreignError = Object.assign(new Error("from another copy"), {
      code: "TIMEOUT",
      [Symbol.for("comfyc.error")]: true,
    });
    expect(isComfycError(foreignError)).toBe(true);
    expect(isComfycError(foreignError, "TIMEOUT")).toBe(true);
    expect(isComfycError(foreignError, "USAGE")).toBe(false);
    expect(isComfycError(new Error("plain"))).toBe(false);
    expect(isComfycError(new ComfycError("USAGE", "x", "y"))).toBe(true);
    const foreignWorkflow = { [Symbol.for("comfyc.workflow")]: "plain" };
    expect(isWorkflow(foreignWorkflow)).toBe(true);
    expect(isWorkflow(workflow())).toBe(true);
    expect(isWorkflow({ compile: () => ({}) })).toBe(false);
  });

  test("builder errors carry nodeId, classType and input as fields", () => {
    const wf = workflow();
    wf.add(EmptyImage, { width: (() => 8) as unknown as number });
    const error = (() => {
      try {
        wf.compile({ validate: false });
      } catch (e) {
        return e;
      }
    })();
    expect(error).toBeInstanceOf(GraphError);
    expect(error).toMatchObject({
      code: "INVALID_GRAPH",
      nodeId: "1",
      classType: "EmptyImage",
      input: "width",
    });
    expect((error as GraphError).hint).not.toBe("");
  });

  test("limits print exactly: the unsigned 64-bit seed max, rounded by JSON.parse or not", () => {
    expect(formatLimit(JSON.parse("18446744073709551615") as number)).toBe("18446744073709551615");
    expect(formatLimit(18446744073709551615n)).toBe("18446744073709551615");
    expect(formatLimit(9223372036854775807n)).toBe("9223372036854775807");
    expect(formatLimit(16384)).toBe("16384");
    expect(formatLimit(0.5)).toBe("0.5");
    const text = describeNodeErrors({
      node_errors: {
        "3": {
          class_type: "KSampler",
          dependent_outputs: ["9"],
          errors: [
            {
              type: "value_bigger_than_max",
              message: "Value bigger than max",
              details: "seed",
              extra_info: {
                input_name: "seed",
                input_config: ["INT", { min: 0, max: 2 ** 64 }],
                received_value: 2n ** 64n,
              },
            },
          ],
        },
      },
    });
    expect(text).toBe(
      'Node "3" (KSampler): input seed: 18446744073709551616 is above the maximum (allowed 0 … 18446744073709551615) [ComfyUI: "Value bigger than max: seed"]',
    );
  });
});
