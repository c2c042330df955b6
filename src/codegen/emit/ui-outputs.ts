import { uiOutputKind } from "../../protocol/ui-output-kinds.js";

/**
 * The builder type naming a core output node's UI output (`UiImages`, …), if known. Only core
 * classes: a custom node's output stays generic.
 */
export function uiOutputType(classType: string, pack: string): string | undefined {
  return pack === "core" ? uiOutputKind(classType) : undefined;
}
