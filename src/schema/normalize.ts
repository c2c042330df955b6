import { safeParseNodeInfo } from "../protocol/object-info.js";
import { canonicalHash } from "./canonical-json.js";
import type { NodeSchema } from "./ir.js";
import { normalizeNodeClassesWith } from "./normalize-node.js";

export {
  normalizeInput,
  normalizeNode,
  packOf,
  splitTypes,
  V3_VALUE_TYPES,
} from "./normalize-node.js";

/**
 * Turns an untrusted `/object_info` reply into the normalized {@link NodeSchema}. A node that
 * cannot be understood is skipped with a warning naming its JSON path; a document that is not an
 * object_info at all throws one `OBJECT_INFO_INVALID` error saying what it looks like instead.
 *
 * @param source Where the document came from (a file or URL), used in error messages.
 */
export function normalizeObjectInfo(
  raw: unknown,
  source = "object_info",
  /** `canonicalHash(raw)`, when the caller has computed it already. */
  knownHash?: string,
): NodeSchema {
  const { classes, warnings } = normalizeNodeClasses(raw, source);
  return { classes, warnings, hash: knownHash ?? canonicalHash(raw) };
}

/**
 * {@link normalizeObjectInfo} without the schema's hash, for a caller that hashes the document
 * itself.
 */
export function normalizeNodeClasses(
  raw: unknown,
  source = "object_info",
): Omit<NodeSchema, "hash"> {
  return normalizeNodeClassesWith(raw, source, safeParseNodeInfo);
}
