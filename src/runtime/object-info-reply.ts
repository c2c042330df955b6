import { isJsonObject } from "../protocol/object-info-fast.js";
import { checkReply, parseReplyJson } from "./http.js";

/**
 * Parses the text of a `GET /object_info` reply (`objectInfoText`) exactly as
 * `Routes.objectInfo` does: losslessly, checked to be an object; `url` names the request in the
 * `BAD_SERVER_REPLY` error. A reply that is a plain JSON object (what `ObjectInfoSchema`
 * accepts as it is) is returned without loading zod; anything else is checked by the schema.
 * For `comfyc codegen --url`, which thus loads zod only for a schema that needs it.
 */
export async function readObjectInfoReply(
  text: string,
  url: string,
): Promise<Record<string, unknown>> {
  const what = `GET ${url}`;
  const raw = parseReplyJson(text, what);
  // zod's record copy drops an own `__proto__` key; such a reply takes the schema's path.
  if (isJsonObject(raw) && !Object.hasOwn(raw, "__proto__")) return raw;
  const { ObjectInfoSchema } = await import("../protocol/object-info.js");
  return checkReply(raw, ObjectInfoSchema, what);
}
