/** File name of the config in a Hugging Face model directory (weights: `SINGLE_FILE` / `INDEX_FILE` of @qlip/core). */
export const CONFIG_NAME = 'config.json';
