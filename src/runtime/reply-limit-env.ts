/**
 * The environment variable the CLI reads each of the client's size limits from (`ReplyLimits`,
 * whole bytes). A module of its own, importing nothing, so the CLI's start-up does not load the
 * transport to read it, and the transport's `ReplyTooLargeError` can name it.
 */
export const REPLY_LIMIT_ENV = {
  replyBytes: "COMFYC_MAX_REPLY_BYTES",
  fileBytes: "COMFYC_MAX_FILE_BYTES",
  messageBytes: "COMFYC_MAX_MESSAGE_BYTES",
} as const;
