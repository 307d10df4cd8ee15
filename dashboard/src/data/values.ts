// How the key explorer turns what was typed into a value to store.
import type { JsonValue } from '../api/types';

/** JSON when the text parses as JSON, else the text itself as a string. */
export function valueFromInput(text: string): JsonValue {
  try {
    return JSON.parse(text) as JsonValue;
  } catch {
    return text;
  }
}
