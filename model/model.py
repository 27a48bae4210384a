"""Seed entry point: ``python model/model.py --model_name clip --model_scale ViT-B/16 --dataset_path DIR``."""
import sys

from calibclip.cli.csdclip import main

sys.exit(main())
