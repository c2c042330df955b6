import type { App } from "../app.js";
import { sendEmpty, sendJson, sendJsonBody, type Route } from "../http.js";

/** Model folders `/models` lists (protocol §2.16), in the server's order. */
export const MODEL_FOLDERS = [
  "checkpoints",
  "configs",
  "loras",
  "vae",
  "text_encoders",
  "diffusion_models",
  "clip_vision",
  "style_models",
  "embeddings",
  "diffusers",
  "vae_approx",
  "controlnet",
  "gligen",
  "upscale_models",
  "custom_nodes",
  "hypernetworks",
  "photomaker",
  "classifiers",
  "model_patches",
  "audio_encoders",
];

/** `/system_stats`, `/object_info` (whole or one class), `/features`, `/models`, `/embeddings`, `/extensions`. */
export function systemRoutes(app: App): Route[] {
  const models = app.modelFiles;
  return [
    {
      method: "GET",
      path: "/system_stats",
      handle: ({ res }) => sendJson(res, 200, app.systemStats()),
    },
    {
      method: "GET",
      path: "/object_info",
      handle: ({ res }) => sendJsonBody(res, 200, app.servedInfoBody()),
    },
    {
      method: "GET",
      path: /^\/object_info\/(.+)$/,
      handle: ({ res, params }) => {
        const name = params[0]!;
        const info = Object.hasOwn(app.baseInfo, name) ? app.baseInfo[name] : undefined;
        sendJson(
          res,
          200,
          info ? { [name]: app.servedClass(info, () => app.folders.inputFiles()) } : {},
        );
      },
    },
    { method: "GET", path: "/features", handle: ({ res }) => sendJson(res, 200, app.features) },
    {
      method: "GET",
      path: "/embeddings",
      handle: ({ res }) =>
        sendJson(
          res,
          200,
          (models["embeddings"] ?? []).map((f) => f.replace(/\.[^.]+$/, "")),
        ),
    },
    {
      method: "GET",
      path: "/models",
      handle: ({ res }) =>
        sendJson(res, 200, [...new Set([...MODEL_FOLDERS, ...Object.keys(models)])]),
    },
    {
      method: "GET",
      path: /^\/models\/(.+)$/,
      handle: ({ res, params }) => {
        const folder = params[0]!;
        return MODEL_FOLDERS.includes(folder) || models[folder]
          ? sendJson(res, 200, models[folder] ?? [])
          : sendEmpty(res, 404);
      },
    },
    { method: "GET", path: "/extensions", handle: ({ res }) => sendJson(res, 200, []) },
  ];
}
