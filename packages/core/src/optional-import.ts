/** A package that loaded, or the reason it did not (first line of the error). */
export type OptionalModule<M> = { module: M; error?: undefined } | { module?: undefined; error: string };

/**
 * Loads a package the caller can work without: an optional dependency, or a heavy one loaded on first
 * use. The caller writes the `import()` itself, so the specifier resolves from the caller's package, the
 * module is typed as `typeof import('pkg')`, and the type checker and the linters see the dependency:
 *
 * ```ts
 * const fn = await optionalImport(() => import('@qlip/feature-nets'));
 * if (!fn.module) throw new Error(`--fd needs @qlip/feature-nets (${fn.error})`);
 * ```
 *
 * Resolves to `{ module }`, or to `{ error }` when the package is not installed or throws while loading;
 * callers say what the user loses and how to get it.
 */
export async function optionalImport<M>(load: () => Promise<M>): Promise<OptionalModule<M>> {
  try {
    return { module: await load() };
  } catch (err) {
    return { error: firstLine(err) };
  }
}

/** First line of an error's message (stack traces and multi-line causes stay out of user-facing notes). */
export function firstLine(err: unknown): string {
  return String(err instanceof Error ? err.message : err).split('\n')[0] ?? '';
}
