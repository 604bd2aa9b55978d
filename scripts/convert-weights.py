#!/usr/bin/env python3
"""Converts a PyTorch checkpoint (timm, DINO, torchvision, Lightning) to .safetensors for bt-platform.

bt-platform loads weights by PyTorch name and layout, so conversion only unwraps the checkpoint,
optionally renames keys, and writes float32 tensors. Examples:

    # A file you already have (.pth / .pt / .bin):
    python3 scripts/convert-weights.py dino_deitsmall8_pretrain.pth vit-small-8-dino.safetensors
    # DINO's full training checkpoint: keep the teacher's backbone
    python3 scripts/convert-weights.py checkpoint.pth dino.safetensors --section teacher --strip-prefix module.backbone.
    # Straight from timm or torchvision (needs them installed and network access):
    python3 scripts/convert-weights.py --timm vit_small_patch8_224.dino vit-small-8-dino.safetensors
    python3 scripts/convert-weights.py --torchvision deeplabv3_resnet50 deeplabv3-resnet50.safetensors

Then in a config: `model: { backbone: { use: vit, variant: small/8, weights: vit-small-8-dino.safetensors } }`.
Not needed by the platform or its tests (CI has no Python).
"""
import argparse
import json
import struct
import sys


def unwrap(obj, section):
    """Finds the tensor dictionary inside common checkpoint layouts."""
    import torch
    if section:
        obj = obj[section]
    for key in ('state_dict', 'model', 'model_state', 'module'):
        if isinstance(obj, dict) and key in obj and isinstance(obj[key], dict) and not isinstance(obj[key], torch.Tensor):
            obj = obj[key]
    if hasattr(obj, 'state_dict'):
        obj = obj.state_dict()
    tensors = {k: v for k, v in obj.items() if isinstance(v, torch.Tensor)}
    if not tensors:
        sys.exit(f'No tensors found; top-level keys: {list(obj)[:20]}. Try --section.')
    return tensors


def write_safetensors(path, tensors, metadata):
    """The safetensors layout, written directly so the `safetensors` package is optional."""
    import torch
    header, blobs, offset = {'__metadata__': metadata}, [], 0
    for name in sorted(tensors):
        t = tensors[name].detach().cpu().contiguous()
        if t.is_floating_point():
            t, dtype = t.float(), 'F32'
        elif t.dtype in (torch.int64, torch.int32, torch.uint8, torch.bool):
            t, dtype = t.long(), 'I64'
        else:
            sys.exit(f'Unsupported dtype {t.dtype} for {name}')
        data = t.numpy().tobytes()
        header[name] = {'dtype': dtype, 'shape': list(t.shape), 'data_offsets': [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    text = json.dumps(header, separators=(',', ':'))
    text += ' ' * ((8 - (len(text) + 8) % 8) % 8)
    with open(path, 'wb') as f:
        f.write(struct.pack('<Q', len(text)))
        f.write(text.encode())
        for blob in blobs:
            f.write(blob)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('source', nargs='?', help='checkpoint file (.pth/.pt/.bin/.ckpt)')
    parser.add_argument('output', help='.safetensors file to write')
    parser.add_argument('--timm', metavar='MODEL', help='download pretrained weights with timm.create_model(MODEL)')
    parser.add_argument('--torchvision', metavar='MODEL', help='download pretrained weights with torchvision.models.get_model(MODEL)')
    parser.add_argument('--section', help='top-level key holding the model (e.g. teacher, student)')
    parser.add_argument('--strip-prefix', action='append', default=[], help='remove this prefix from keys (repeatable)')
    parser.add_argument('--drop', action='append', default=[], help='drop keys starting with this (e.g. head., fc.)')
    parser.add_argument('--list', action='store_true', help='print names and shapes')
    args = parser.parse_args()

    import torch
    if args.timm:
        import timm
        tensors = timm.create_model(args.timm, pretrained=True).state_dict()
        origin = f'timm:{args.timm}'
    elif args.torchvision:
        import torchvision
        tensors = torchvision.models.get_model(args.torchvision, weights='DEFAULT').state_dict()
        origin = f'torchvision:{args.torchvision}'
    elif args.source:
        tensors = unwrap(torch.load(args.source, map_location='cpu'), args.section)
        origin = args.source
    else:
        parser.error('give a checkpoint file, --timm or --torchvision')

    renamed = {}
    for name, tensor in tensors.items():
        for prefix in args.strip_prefix:
            if name.startswith(prefix):
                name = name[len(prefix):]
        if any(name.startswith(d) for d in args.drop):
            continue
        renamed[name] = tensor
    if args.list:
        for name, tensor in renamed.items():
            print(f'{name}\t{list(tensor.shape)}')
    write_safetensors(args.output, renamed, {'source': origin, 'format': 'pt'})
    print(f'Wrote {len(renamed)} tensors to {args.output}')


if __name__ == '__main__':
    main()
