"""Images/s of torchvision's ImageFolder + DataLoader over the same folder and
the same transforms as benchmarks/data_loading.cc; one JSON line."""
import argparse, json, time
import torch
import torchvision
from torchvision import transforms as T

parser = argparse.ArgumentParser()
parser.add_argument("--data_dir")
parser.add_argument("--workers", type=int)
parser.add_argument("--kind", choices=["png", "jpeg"])
parser.add_argument("--batch_size", type=int, default=64)
args = parser.parse_args()
torch.set_num_threads(1)
if args.kind == "png":
    pipeline = T.Compose([T.Grayscale(), T.ToTensor(), T.Normalize([0.5], [0.5])])
else:
    pipeline = T.Compose([T.RandomResizedCrop(224), T.RandomHorizontalFlip(), T.ToTensor(),
                          T.Normalize([0.5] * 3, [0.5] * 3)])
folder = torchvision.datasets.ImageFolder(args.data_dir + "/train", transform=pipeline)
loader = torch.utils.data.DataLoader(folder, batch_size=args.batch_size, shuffle=True,
                                     num_workers=args.workers, prefetch_factor=2 if args.workers else None)
start = time.perf_counter()
images = 0
for inputs, targets in loader:
    images += len(targets)
seconds = time.perf_counter() - start
print(json.dumps({"side": "torchvision", "workers": args.workers, "images": images,
                  "images_per_s": images / seconds}))
