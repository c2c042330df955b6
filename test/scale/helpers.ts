import type { ComfycError } from "../../src/errors.js";

/** The error a promise rejects with (fails the test when it resolves). */
export async function errorOf(promise: Promise<unknown>): Promise<ComfycError> {
  try {
    await promise;
  } catch (e) {
    return e as ComfycError;
  }
  throw new Error("expected a rejection");
}
