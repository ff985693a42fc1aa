#!/usr/bin/env bash
# The language-model path end to end, on real text (a file of Debian's
# fortunes): //tools:tokenize writes train.bin/val.bin/meta.json that an
# independent decoder (numpy and meta.json's itos, in Python) reads back as
# the text; bad token files are refused naming them; a small GPT trained
# with AdamW in two parameter groups (--weight_decay_params=matrices),
# warm-up + cosine, clipping and dropout, killed with -9 at random moments
# (seed logged) and resumed, ends byte-identical to a run that never
# stopped; its checkpoint exported as PyTorch's training dict is accepted by
# torch.optim.AdamW.load_state_dict over nanoGPT's two groups (state on the
# right parameters), and resumed from here; //tools:evaluate reproduces the
# run's validation loss; //tools:sample gives the same text for a seed; the
# HParams summaries, decoded by python3-protobuf from TensorBoard's field
# numbers (tests/hparams_decode.py), hold the run's flags and final metrics.
set -u
TRAIN="$(realpath "$1")"
CKPT="$(realpath "$2")"
TOKENIZE="$(realpath "$3")"
SAMPLE="$(realpath "$4")"
EVALUATE="$(realpath "$5")"
NANOGPT_DIR="$(dirname "$(realpath "$6")")"
HPARAMS_DECODE="$(realpath "$7")"
source "$(dirname "$0")/shell_checks.sh"
cd "${TEST_TMPDIR}"

seed=${KILL_SEED:-$((RANDOM * 32768 + RANDOM))}
echo "     kill moments drawn with seed ${seed} (KILL_SEED=${seed} repeats them)"
RANDOM=${seed}

text=/usr/share/games/fortunes/computers
"${TOKENIZE}" --input="${text}" --out=tokens > tokenize.log 2>&1
check "tokenize exits 0" test $? -eq 0
check "it says what it wrote" grep -q "tokens (.* train, .* val), char vocabulary of" tokenize.log
check "an independent decoder reads the files back as the text, split 90/10" /usr/bin/python3 -c "
import json, numpy, sys
text = open('${text}', encoding='utf-8').read()
meta = json.load(open('tokens/meta.json'))
itos = meta['itos']
assert itos == sorted(set(text)), 'vocabulary is not the sorted characters'
assert meta['vocab_size'] == len(itos)
train = numpy.fromfile('tokens/train.bin', dtype='<u2')
val = numpy.fromfile('tokens/val.bin', dtype='<u2')
assert len(train) == int(len(text) * 0.9), (len(train), len(text))
sys.exit(''.join(itos[i] for i in train) + ''.join(itos[i] for i in val) != text)"
"${TOKENIZE}" --input="${text},/usr/share/games/fortunes/art.dat" --tokenizer=byte --out=bytes > bytes.log 2>&1
check "the byte tokenizer takes any bytes (a strfile index), read back exactly" /usr/bin/python3 -c "
import json, numpy, sys
data = open('${text}', 'rb').read() + open('/usr/share/games/fortunes/art.dat', 'rb').read()
ids = numpy.concatenate([numpy.fromfile('bytes/train.bin', dtype='<u2'), numpy.fromfile('bytes/val.bin', dtype='<u2')])
meta = json.load(open('bytes/meta.json'))
sys.exit(not (meta['tokenizer'] == 'byte' and meta['vocab_size'] == 256 and bytes(ids.astype(numpy.uint8)) == data))"
"${TOKENIZE}" --input=/usr/share/games/fortunes/art.dat --out=not_text > not_text.log 2>&1
check "the char tokenizer refuses bytes that are not UTF-8, naming the offset" \
  grep -q "art.dat: byte 7 (0xd1) is not UTF-8 text; use the byte tokenizer" not_text.log
"${TOKENIZE}" --input="${text}" --out=tokens > again.log 2>&1
check "tokenize refuses to overwrite a data set" grep -q "already holds train.bin; nothing is overwritten" again.log

args=(--model=gpt --model_options='{"n_layer": 2, "n_head": 2, "n_embd": 32, "dropout": 0.1}'
      --trainer=language_model --dataset=token_file --data_dir=tokens
      --dataset_options='{"block_size": 32, "valid_windows": 64}' --train_samples=256
      --batch_size=16 --eval_batch_size=32 --optimizer=adamw --lr=0.003 --weight_decay=0.1
      --weight_decay_params=matrices --scheduler=cosine --warmup_epochs=1 --warmup_start_factor=0.1
      --clip_grad_norm=1 --epochs=4 --seed=5 --threads=1 --log_interval=0 --progress=never
      --checkpoint_every_steps=3 --keep_last=100)

# Bad token files, named.
mkdir -p bad && cp tokens/meta.json tokens/val.bin bad/ && head -c 20001 tokens/train.bin > bad/train.bin
"${TRAIN}" "${args[@]}" --data_dir=bad --run_dir=bad_run > bad.log 2>&1
check "an odd-sized train.bin is refused, named" grep -q "bad/train.bin: 20001 bytes, an odd size" bad.log
rm bad/meta.json
"${TRAIN}" "${args[@]}" --data_dir=bad --run_dir=bad_run > bad2.log 2>&1
check "a missing meta.json is named" grep -q "bad/meta.json not found" bad2.log
"${TRAIN}" "${args[@]}" --model_options='{"n_layer": 1, "n_head": 1, "n_embd": 8, "vocab_size": 10}' \
  --run_dir=bad_run > bad3.log 2>&1
check "a vocabulary smaller than the data's is refused" \
  grep -q "option 'vocab_size' of model 'gpt' is 10, less than the data set's" bad3.log

"${TRAIN}" "${args[@]}" --run_dir=straight > straight.log 2>&1
check "the uninterrupted run exits 0" test $? -eq 0
check "it logs per-token accuracy and bits per token" grep -q "Validation:Epoch\[004/004\] Loss: .* Acc:.*% Bpt: " straight.log
check "its optimizer has the two groups" /usr/bin/python3 -c "
import json, sys
names = json.load(open('$(newest_checkpoint straight)/checkpoint.json'))
text = json.dumps(names)
sys.exit(not ('optimizer.0.' in text and 'optimizer.1.' in text))"

kill_and_resume_repeatedly killed 8 "${TRAIN}" "${args[@]}"
check "at least 2 kills -9 landed (${kills})" test "${kills}" -ge 2
"${TRAIN}" "${args[@]}" --run_dir=killed --resume > last.log 2>&1
check "the last resume exits 0" test $? -eq 0
check "killed and resumed ends bit-identical to the run that never stopped" same_run straight killed

for run in straight killed; do
  check "${run}: the HParams summaries hold the run-defining flags and the final metrics" \
    /usr/bin/python3 -c "
import json, subprocess, sys
decoded = json.loads(subprocess.check_output(['/usr/bin/python3', '${HPARAMS_DECODE}', '${run}/events']))
flags = json.load(open('${run}/flags.json'))
start = decoded['session_start']
assert start['model'] == 'gpt' and start['optimizer'] == 'adamw', start
assert start['weight_decay_params'] == 'matrices' and start['batch_size'] == 16, start
assert start['optimizer.lr'] == float(flags['optimizer.lr']) == 0.003, start
assert start['dataset_options'] == flags['dataset_options'], start
assert 'threads' not in start and 'run_dir' not in start, 'only run-defining flags'
assert decoded['experiment']['hparams']['optimizer.weight_decay'] == 'number'
assert decoded['experiment']['hparams']['model'] == 'string'
metrics = decoded['experiment']['metrics']
assert set(metrics) == {'valid/loss', 'valid/acc', 'valid/bpt'}, metrics
final = json.loads(open('${run}/metrics.jsonl').readlines()[-1])
for tag in metrics:
    logged, shown = final['valid_' + tag[6:]], decoded['last'][tag]
    assert abs(logged - shown) <= 1e-6 * max(1, abs(logged)), (tag, logged, shown)
assert decoded['session_end'] == 1, 'STATUS_SUCCESS'
print('     ${run}:', len(start), 'hyper-parameters; valid/loss', decoded['last']['valid/loss'])"
done

final=$(newest_checkpoint straight)
"${CKPT}" export "${final}" recipe.pt --format=pytorch_checkpoint > export.log 2>&1
check "ckpt export writes PyTorch's training dict of a two-group run" test -s recipe.pt
check "torch.optim.AdamW over nanoGPT's groups loads it, state on the right parameters" \
  /usr/bin/python3 -c "
import sys, torch
sys.path.insert(0, '${NANOGPT_DIR}')
from nanogpt import GPT, load_cpp_state_dict, optimizer_groups
ck = torch.load('recipe.pt')
model = GPT({'n_layer': 2, 'n_head': 2, 'n_embd': 32, 'block_size': 32, 'vocab_size': $(/usr/bin/python3 -c "import json; print(json.load(open('tokens/meta.json'))['vocab_size'])"), 'bias': True})
load_cpp_state_dict(model, ck['model_state_dict'])
optimizer = torch.optim.AdamW(optimizer_groups(model, 0.1), lr=0.003)
optimizer.load_state_dict(ck['optimizer_state_dict'])
groups = optimizer.param_groups
assert len(groups) == 2 and groups[0]['weight_decay'] == 0.1 and groups[1]['weight_decay'] == 0.0, groups
for group in groups:
    for p in group['params']:
        state = optimizer.state[p]
        assert state['exp_avg'].shape == p.shape and state['exp_avg_sq'].shape == p.shape
        assert int(state['step']) == $(( 256 / 16 * 4 )), state['step']
x = torch.randint(0, 10, (2, 8))
model(x).sum().backward()
optimizer.step()
print('     groups of', len(groups[0]['params']), 'and', len(groups[1]['params']), 'parameters')"
"${TRAIN}" "${args[@]}" --run_dir=from_pt --resume_from=recipe.pt --epochs=5 > from_pt.log 2>&1
check "a run resumes from that PyTorch dict, two groups and all" test $? -eq 0
check "and trains its 5th epoch" grep -q "Validation:Epoch\[005/005\]" from_pt.log

"${EVALUATE}" --weights="${final}" > evaluate.log 2>&1
check "evaluate (data set, options and trainer from the checkpoint) exits 0" test $? -eq 0
check "and reproduces the run's validation loss" /usr/bin/python3 -c "
import json, re, sys
logged = json.loads(open('straight/metrics.jsonl').readlines()[-1])['valid_loss']
shown = float(re.search(r'Validation: Loss: ([0-9.]+)', open('evaluate.log').read()).group(1))
print('     run', logged, 'evaluate', shown)
sys.exit(abs(logged - shown) > 1e-4)"

"${SAMPLE}" --weights="${final}" --prompt="The " --tokens=120 --seed=3 > sample1.txt 2> sample1.log
check "sample exits 0" test $? -eq 0
"${SAMPLE}" --weights="${final}" --prompt="The " --tokens=120 --seed=3 > sample2.txt 2>&1
"${SAMPLE}" --weights="${final}" --prompt="The " --tokens=120 --seed=4 > sample3.txt 2>&1
check "the same seed gives the same text" cmp -s sample1.txt sample2.txt
check "another seed another text" bash -c "! cmp -s sample1.txt sample3.txt"
check "the text continues the prompt by 120 characters" /usr/bin/python3 -c "
import sys
text = open('sample1.txt', encoding='utf-8').read()[:-1]
sys.exit(not (text.startswith('The ') and len(text) == 4 + 120))"
"${SAMPLE}" --weights="${final}" --prompt="€" > bad_prompt.txt 2>&1
check "a prompt outside the vocabulary is named" grep -q -- "--prompt: byte 0: character \"€\" is not in the vocabulary" bad_prompt.txt
head -c 300 sample1.txt | sed 's/^/     | /'
echo

finish_checks
