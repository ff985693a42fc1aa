#!/usr/bin/env bash
# //tools:ckpt on real checkpoints: list, show, verify (non-zero when
# corrupt) and diff.
set -u
TRAIN="$1"
CKPT="$2"
source "$(dirname "$0")/shell_checks.sh"

args=(--dataset=synthetic --epochs=3 --progress=never --log_interval=0 --keep_last=5 --momentum=0.9)
"${TRAIN}" "${args[@]}" --run_dir="${TEST_TMPDIR}/a" > /dev/null 2>&1
"${TRAIN}" "${args[@]}" --run_dir="${TEST_TMPDIR}/b" > /dev/null 2>&1
"${TRAIN}" "${args[@]}" --run_dir="${TEST_TMPDIR}/c" --seed=9 > /dev/null 2>&1
ck="${TEST_TMPDIR}/a/checkpoints"

"${CKPT}" list "${TEST_TMPDIR}/a" > "${TEST_TMPDIR}/list.txt"
check "list exits 0 when all are valid" test $? -eq 0
check "list shows step, epoch, metrics, size, commit, line, validity" \
  grep -qE '^step-0000000016 +16 +2 +0 +[0-9.]+ +[0-9.]+% +[0-9.]+ KiB +2 +current +yes$' "${TEST_TMPDIR}/list.txt"
check "list shows all three" test "$(grep -c '^step-' "${TEST_TMPDIR}/list.txt")" -eq 3

"${CKPT}" show "${ck}/step-0000000024" > "${TEST_TMPDIR}/show.txt"
check "show prints the position" grep -q "position        epoch 3, batch 0, global step 24" "${TEST_TMPDIR}/show.txt"
check "show prints the tensor table" \
  grep -qE '^optimizer.0.0.momentum_buffer +state.safetensors +F32 +\[6, 1, 5, 5\] +cpu +[0-9a-f]{16}$' "${TEST_TMPDIR}/show.txt"
check "show names the checksum" grep -qE '^tensor .* xxh3$' "${TEST_TMPDIR}/show.txt"
check "show prints the flags" grep -q -- "--momentum=0.9" "${TEST_TMPDIR}/show.txt"

"${CKPT}" diff "${ck}/step-0000000024" "${TEST_TMPDIR}/b/checkpoints/step-0000000024" > "${TEST_TMPDIR}/same.txt"
check "diff of identical runs exits 0" test $? -eq 0
check "diff of identical runs finds nothing" grep -q "^0 of 21 tensors differ" "${TEST_TMPDIR}/same.txt"
"${CKPT}" diff "${ck}/step-0000000024" "${TEST_TMPDIR}/c/checkpoints/step-0000000024" > "${TEST_TMPDIR}/differ.txt"
check "diff of different runs exits 1" test $? -eq 1
check "diff says how much" grep -qE '^fc1.weight +max abs [0-9.e-]+, mean abs [0-9.e-]+, [0-9]+ of 30720 elements differ' "${TEST_TMPDIR}/differ.txt"

"${CKPT}" verify "${ck}"/step-* > /dev/null
check "verify exits 0 when intact" test $? -eq 0
printf '\x55' | dd of="${ck}/step-0000000016/model.safetensors" bs=1 seek=2000 conv=notrunc 2> /dev/null
"${CKPT}" verify "${ck}"/step-* > "${TEST_TMPDIR}/verify.txt"
check "verify exits 1 when corrupt" test $? -eq 1
check "verify names the corrupt tensor" \
  grep -q "step-0000000016: CORRUPT: .*model.safetensors: tensor '.*' fails its checksum" "${TEST_TMPDIR}/verify.txt"
"${CKPT}" list "${TEST_TMPDIR}/a" > "${TEST_TMPDIR}/list2.txt"
check "list flags the corrupt one" grep -q "^step-0000000016 .* NO: .*fails its checksum" "${TEST_TMPDIR}/list2.txt"
# export: checkpoint -> .pt that Python opens with weights_only=True, and
# -> safetensors and whole-model files; import: .pt -> whole-model file.
good="${TEST_TMPDIR}/b/checkpoints/step-0000000024"
"${CKPT}" export "${good}" "${TEST_TMPDIR}/model.pt" > "${TEST_TMPDIR}/export.txt"
check "export to .pt" grep -q "exported 10 tensors from .* (checkpoint) to .*model.pt (pt)" "${TEST_TMPDIR}/export.txt"
check "python opens the export with weights_only" /usr/bin/python3 -c "
import torch; sd = torch.load('${TEST_TMPDIR}/model.pt', weights_only=True)
assert list(sd) == ['conv1.bias', 'conv1.weight', 'conv2.bias', 'conv2.weight', 'fc1.bias', 'fc1.weight', 'fc2.bias', 'fc2.weight', 'fc3.bias', 'fc3.weight'], list(sd)
assert sd['fc1.weight'].shape == (120, 256) and sd['fc1.weight'].dtype == torch.float32"
"${CKPT}" export "${good}" "${TEST_TMPDIR}/model.safetensors" > /dev/null
"${CKPT}" export "${good}" "${TEST_TMPDIR}/whole.model" --format=model > /dev/null
"${CKPT}" export "${TEST_TMPDIR}/model.pt" "${TEST_TMPDIR}/roundtrip.safetensors" > "${TEST_TMPDIR}/export2.txt"
check ".pt input recognised by content" grep -q "(PyTorch .pt)" "${TEST_TMPDIR}/export2.txt"
check "pt -> safetensors keeps the values" cmp "${TEST_TMPDIR}/model.safetensors" "${TEST_TMPDIR}/roundtrip.safetensors"
cp "${TEST_TMPDIR}/model.pt" "${TEST_TMPDIR}/misnamed.safetensors"
"${CKPT}" import "${TEST_TMPDIR}/misnamed.safetensors" "${TEST_TMPDIR}/imported.model" --model=lenet > "${TEST_TMPDIR}/import.txt"
check "import a .pt (named .safetensors) into a whole-model file" grep -q "imported 10 tensors" "${TEST_TMPDIR}/import.txt"
"${CKPT}" import "${TEST_TMPDIR}/model.pt" "${TEST_TMPDIR}/bad.model" --model=mlp > "${TEST_TMPDIR}/import_bad.txt" 2>&1
check "import into the wrong model lists the keys" grep -q "does not fit the model; missing keys: layers.0.bias" "${TEST_TMPDIR}/import_bad.txt"
"${TRAIN}" "${args[@]}" --epochs=1 --run_dir="${TEST_TMPDIR}/init_pt" --init_from="${TEST_TMPDIR}/model.pt" > "${TEST_TMPDIR}/init_pt.log" 2>&1
check "--init_from a .pt file" grep -q "Initialised the model's weights from ${TEST_TMPDIR}/model.pt" "${TEST_TMPDIR}/init_pt.log"
"${TRAIN}" "${args[@]}" --epochs=1 --run_dir="${TEST_TMPDIR}/init_model" --init_from="${TEST_TMPDIR}/whole.model" > "${TEST_TMPDIR}/init_model.log" 2>&1
check "--init_from a whole-model file" grep -q "Initialised the model's weights from" "${TEST_TMPDIR}/init_model.log"

"${CKPT}" frobnicate > /dev/null 2>&1
check "unknown command is a usage error" test $? -eq 2

# show takes any weights file the registered formats recognise; verify says
# a file has no checksum to verify.
"${CKPT}" show "${TEST_TMPDIR}/model.pt" > "${TEST_TMPDIR}/show_pt.txt" 2>&1
check "show a .pt: its format" grep -q "^format          PyTorch .pt$" "${TEST_TMPDIR}/show_pt.txt"
check "show a .pt: its tensors with dtype and shape" \
  grep -qE '^conv1.weight +Float +\[6, 1, 5, 5\]' "${TEST_TMPDIR}/show_pt.txt"
"${CKPT}" show "${TEST_TMPDIR}/whole.model" > "${TEST_TMPDIR}/show_model.txt" 2>&1
check "show a whole-model file: the model it names" grep -q '^model .*"name":"lenet"' "${TEST_TMPDIR}/show_model.txt"
"${CKPT}" show "${TEST_TMPDIR}/model.safetensors" > "${TEST_TMPDIR}/show_st.txt" 2>&1
check "show a safetensors file" grep -qE '^fc1.weight +Float +\[120, 256\]' "${TEST_TMPDIR}/show_st.txt"
"${CKPT}" verify "${TEST_TMPDIR}/model.pt" > "${TEST_TMPDIR}/verify_pt.txt" 2>&1
check "verify a file: only checkpoints carry checksums" \
  grep -q "model.pt: CORRUPT: a file, not a checkpoint: only checkpoints carry checksums" "${TEST_TMPDIR}/verify_pt.txt"
# --model_options as every other binary spells it; --model_config still works.
"${CKPT}" import "${TEST_TMPDIR}/model.pt" "${TEST_TMPDIR}/opts.model" --model=lenet \
  --model_options='{"dropuot":0.5}' > "${TEST_TMPDIR}/import_opts.txt" 2>&1
check "import --model_options reaches the model" \
  grep -qF -e "--model_options key \"dropuot\": model 'lenet' has no option 'dropuot'" "${TEST_TMPDIR}/import_opts.txt"
"${CKPT}" import "${TEST_TMPDIR}/model.pt" "${TEST_TMPDIR}/old.model" --model=lenet \
  --model_config='{bad' > "${TEST_TMPDIR}/import_old.txt" 2>&1
check "the old --model_config is named in its error" grep -qF -e "--model_config: '{bad' is not a JSON object" "${TEST_TMPDIR}/import_old.txt"
# --help lists the tool's commands and own flags, not LibTorch's.
"${CKPT}" --help > "${TEST_TMPDIR}/help.txt" 2>&1
check "help exits 0" test $? -eq 0
check "help starts with the usage" grep -q "^usage: ckpt list RUN_DIR" "${TEST_TMPDIR}/help.txt"
check "help lists --model_options" grep -q "^  --model_options={}" "${TEST_TMPDIR}/help.txt"
check "help lists no caffe2 flag" bash -c "! grep -q caffe2 '${TEST_TMPDIR}/help.txt'"

# Lineage: four epochs, then back to epoch 1 for a run of three. --resume
# continues the line last committed (step-48.1), not the highest step (64).
dir="${TEST_TMPDIR}/lineage"
line_args=(--dataset=synthetic --batch_size=32 --progress=never --log_interval=0 --keep_last=100)
"${TRAIN}" "${line_args[@]}" --epochs=4 --run_dir="${dir}" > /dev/null 2>&1
"${TRAIN}" "${line_args[@]}" --epochs=3 --run_dir="${dir}" \
  --resume_from="${dir}/checkpoints/step-0000000016" > /dev/null 2>&1
check "the new line saved step-48.1" test -d "${dir}/checkpoints/step-0000000048.1"
"${TRAIN}" "${line_args[@]}" --epochs=4 --run_dir="${dir}" --resume > "${dir}.resume.log" 2>&1
check "--resume continues the line last committed" \
  grep -q "Resumed from ${dir}/checkpoints/step-0000000048.1 at epoch 4" "${dir}.resume.log"
"${CKPT}" list "${dir}" > "${dir}.list.txt"
check "list marks the abandoned line" grep -qE '^step-0000000064 +64 .* abandoned +yes$' "${dir}.list.txt"
check "and the current one" grep -qE '^step-0000000048.1 +48 .* current +yes$' "${dir}.list.txt"
check "the checkpoint resumed from is on both" grep -qE '^step-0000000016 +16 .* current +yes$' "${dir}.list.txt"
# Retention after the resume keeps the current line's newest and says what it
# did with the abandoned ones.
"${TRAIN}" "${line_args[@]}" --epochs=5 --keep_last=2 --keep_best=0 --run_dir="${dir}" --resume \
  > "${dir}.retention.log" 2>&1
check "retention names the abandoned line" \
  grep -q "Deleted checkpoint ${dir}/checkpoints/step-0000000064 (retention; on a line abandoned by a resume)" \
  "${dir}.retention.log"
check "and keeps the current line's newest" test -d "${dir}/checkpoints/step-0000000064.1"

# Which line a checkpoint is on is recorded, not found through parent links
# that retention deletes: a run that never resumed keeps every checkpoint
# (milestones, the best, the newest) on the current line, and a fork from a
# milestone leaves exactly the first run's later ones abandoned.
dir="${TEST_TMPDIR}/kept_line"
kept_args=(--dataset=synthetic --batch_size=32 --progress=never --log_interval=0
           --checkpoint_every_steps=5 --keep_last=2 --keep_every_epochs=1 --keep_best=1)
"${TRAIN}" "${kept_args[@]}" --epochs=3 --run_dir="${dir}" > "${dir}.log" 2>&1
"${CKPT}" list "${dir}" > "${dir}.list.txt"
check "a run that never resumed kept its milestones"   grep -qE '^step-0000000016 +16 .* current +yes$' "${dir}.list.txt"
check "every checkpoint of a run that never resumed is on the current line"   bash -c "! grep -q abandoned '${dir}.list.txt'"
check "retention never speaks of an abandoned line in a run that never resumed"   bash -c "! grep -q 'abandoned' '${dir}.log'"
"${TRAIN}" "${kept_args[@]}" --epochs=4 --run_dir="${dir}"   --resume_from="${dir}/checkpoints/step-0000000016" > "${dir}.fork.log" 2>&1
"${CKPT}" list "${dir}" > "${dir}.fork.txt"
cat "${dir}.fork.txt"
# Expected: the fork's own checkpoints (".1", or past the first run's last
# step 48) and the first run's up to the fork point are current.
labels_ok=true
while read -r name step _; do
  [[ ${name} == step-* ]] || continue
  expected=abandoned
  if [[ ${name} == *.1 || ${step} -le 16 || ${step} -gt 48 ]]; then expected=current; fi
  if ! grep -qE "^${name//./\.} .* ${expected} +yes$" "${dir}.fork.txt"; then
    echo "     ${name}: expected ${expected}"; labels_ok=false
  fi
done < "${dir}.fork.txt"
check "after a fork every checkpoint has the label of its line" ${labels_ok}
check "the fork left some of the first run's checkpoints abandoned" grep -q abandoned "${dir}.fork.txt"

finish_checks
