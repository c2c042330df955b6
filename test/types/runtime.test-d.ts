import { expectTypeOf, test } from "vitest";
import { $unsafeLink, workflow, type UiAnimated, type UiFile, type UiImages } from "comfyc";
import type { JobEvent, JobResult, NodeOutput } from "comfyc/runtime";
import {
  EmptyImage,
  ImageInvert,
  PreviewAny,
  SaveAnimatedWEBP,
  SaveAudio,
  SaveImage,
} from "../../generated/core.js";

const wf = workflow();
const image = wf.add(EmptyImage, {});
const saved = wf.add(SaveImage, { images: image });
const animated = wf.add(SaveAnimatedWEBP, { images: image, method: "default" });
const audio = wf.add(SaveAudio, { audio: $unsafeLink("1", 0) });
const text = wf.add(PreviewAny, { source: image });
const inverted = wf.add(ImageInvert, { image });
declare const result: JobResult;

test("core output nodes' handles type their UI output", () => {
  expectTypeOf(result.output(saved)).toEqualTypeOf<UiImages | undefined>();
  expectTypeOf(result.output(saved)!.images).toEqualTypeOf<readonly UiFile[]>();
  expectTypeOf(result.output(animated)).toEqualTypeOf<UiAnimated | undefined>();
  expectTypeOf(result.output(animated)!.animated).toEqualTypeOf<readonly boolean[]>();
  expectTypeOf(result.output(text)!.text).toEqualTypeOf<readonly string[]>();
  expectTypeOf(result.output(audio)!.audio).toEqualTypeOf<readonly UiFile[]>();
  // @ts-expect-error a SaveImage output has no `text`
  void result.output(saved)!.text;
});

test("other nodes and plain ids give the generic UI output", () => {
  expectTypeOf(result.output(inverted)).toEqualTypeOf<NodeOutput | undefined>();
  expectTypeOf(result.output("9")).toEqualTypeOf<NodeOutput | undefined>();
});

test("job events are a discriminated union", () => {
  const onEvent = (e: JobEvent) => {
    if (e.type === "progress") expectTypeOf(e.max).toEqualTypeOf<number>();
    if (e.type === "blocked") expectTypeOf(e.message).toEqualTypeOf<string>();
    if (e.type === "success") expectTypeOf(e.result).toEqualTypeOf<JobResult>();
  };
  void onEvent;
});
