# Regenerates the golden fixtures of tests/unit/test_bpe_hf.cpp with Hugging Face `tokenizers`
# (pip install tokenizers; made with tokenizers 0.23.3). Run from this directory: python3 generate.py
import json
from tokenizers import ByteLevelBPETokenizer

corpus = open("corpus.txt", encoding="utf-8").read()
hf = ByteLevelBPETokenizer(add_prefix_space=False)
hf.train_from_iterator([corpus], vocab_size=400, min_frequency=2, show_progress=False,
                       special_tokens=["<|endoftext|>"])
hf.save_model(".", "hf")  # hf-vocab.json, hf-merges.txt (HF's layout: <|endoftext|> is id 0)

loaded = ByteLevelBPETokenizer("hf-vocab.json", "hf-merges.txt", add_prefix_space=False)
texts = json.load(open("texts.json", encoding="utf-8"))
cases = [{"text": t, "ids": loaded.encode(t).ids} for t in texts + [corpus]]
json.dump(cases, open("hf-encodings.json", "w", encoding="utf-8"), ensure_ascii=True, indent=0)
