"""The independent side of image_folder_test: PIL writes an ImageFolder of
PNGs in every 8-bit mode (L, RGB, P, P with transparency, RGBA, LA, 1-bit,
an interlaced one), JPEGs (4:4:4 and 4:2:0 colour, gray), a nested
sub-folder, a hidden file and a text file, then
torchvision's ImageFolder (its own class order and walk; hidden files
excluded, as the C++ data set excludes them) and PIL's convert("RGB") /
convert("L") with ToTensor give the reference.

  [IMAGE_SEED=N] torchvision_image_folder.py DIR OUT.pt
      ->  JSON {split: [[relative path, class]], "seed": N}
  OUT.pt: "<split>_rgb" and "<split>_gray" [N, C, H, W] float tensors,
  "<split>_targets".
"""
import json
import os
import sys

import numpy
import torch
from PIL import Image
from torchvision import datasets, transforms

root, out = sys.argv[1], sys.argv[2]
rng = numpy.random.default_rng(int(os.environ.get("IMAGE_SEED", "7")))
H, W = 6, 8


def rgb():
    return rng.integers(0, 256, (H, W, 3), dtype=numpy.uint8)


def save(path, image, **options):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    image.save(path, **options)


for split in ("train", "val"):
    base = os.path.join(root, split)
    save(f"{base}/dog/a.png", Image.fromarray(rgb(), "RGB"))
    save(f"{base}/dog/B.PNG", Image.fromarray(rgb()[..., 0], "L"))
    save(f"{base}/dog/deeper/c.png", Image.fromarray(rgb(), "RGB").convert("P"))
    save(f"{base}/dog/.hidden.png", Image.fromarray(rgb(), "RGB"))
    save(f"{base}/ant/rgba.png", Image.fromarray(numpy.dstack([rgb(), rgb()[..., :1]]), "RGBA"))
    save(f"{base}/ant/la.png", Image.fromarray(numpy.dstack([rgb()[..., :1], rgb()[..., :1]]), "LA"))
    save(f"{base}/ant/bits.png", Image.fromarray(rgb()[..., 0] > 127).convert("1"))
    save(f"{base}/ant/interlaced.png", Image.fromarray(rgb(), "RGB"), optimize=False)
    palette = Image.fromarray(rgb(), "RGB").convert("P")
    palette.info["transparency"] = 0
    save(f"{base}/cat/p_trns.png", palette, transparency=0)
    save(f"{base}/cat/z.png", Image.fromarray(rgb(), "RGB"))
    save(f"{base}/cat/photo.jpg", Image.fromarray(rgb(), "RGB"), quality=90)
    save(f"{base}/cat/sub420.JPEG", Image.fromarray(rgb(), "RGB"), quality=75, subsampling=2)
    save(f"{base}/dog/gray.jpeg", Image.fromarray(rgb()[..., 0], "L"), quality=85)
    with open(f"{base}/cat/notes.txt", "w") as f:
        f.write("not an image\n")

reference, listing = {}, {}
for split in ("train", "val"):
    valid = lambda p: p.lower().endswith((".png", ".jpg", ".jpeg")) and not os.path.basename(p).startswith(".")
    folder = datasets.ImageFolder(os.path.join(root, split), is_valid_file=valid)
    listing[split] = [[os.path.relpath(p, os.path.join(root, split)), c] for p, c in folder.samples]
    reference[f"{split}_targets"] = torch.tensor(folder.targets)
    for mode, name in (("RGB", "rgb"), ("L", "gray")):
        images = [transforms.ToTensor()(Image.open(p).convert(mode)) for p, _ in folder.samples]
        reference[f"{split}_{name}"] = torch.stack(images)
torch.save(reference, out)
listing["seed"] = int(os.environ.get("IMAGE_SEED", "7"))
print(json.dumps(listing))
