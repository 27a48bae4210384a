"""A stand-in for FG-CLIP's hub code (``modeling_fgclip.py``), copied into test model folders.

It follows FG-CLIP's public interface (github 360CVGroup/FG-CLIP; hub qihoo360/fg-clip-base):
an ``FGCLIPModel`` subclassing transformers' ``CLIPModel``, a text tower with a short position
path (``walk_short_pos=True``: CLIP's 77-row table, ``text_projection``) and a long one
(248 positions: rows < 20 from ``position_embedding_ori``, the rest from
``position_embedding_res``, projected by ``text_filip_projection``), and
``get_image_features`` / ``get_text_features`` returning plain tensors. Not FG-CLIP's code.
"""
import torch
from torch import nn
from transformers import CLIPModel, CLIPTextModel
from transformers.models.clip.modeling_clip import CLIPTextEmbeddings

LONG_POSITIONS = 248
KEEP = 20


class FGCLIPTextEmbeddings(CLIPTextEmbeddings):
    def __init__(self, config):
        super().__init__(config)
        self.position_embedding_res = nn.Embedding(LONG_POSITIONS, config.hidden_size)
        self.position_embedding_ori = nn.Embedding(LONG_POSITIONS, config.hidden_size)
        self.walk_short_pos = True

    def forward(self, input_ids=None, position_ids=None, inputs_embeds=None):
        if self.walk_short_pos:
            return super().forward(input_ids, position_ids, inputs_embeds)
        if input_ids.shape[-1] != LONG_POSITIONS:
            raise ValueError(f"the long path needs {LONG_POSITIONS} positions, got {input_ids.shape[-1]}")
        positions = torch.arange(LONG_POSITIONS, device=input_ids.device)
        table = torch.where((positions < KEEP)[:, None], self.position_embedding_ori(positions),
                            self.position_embedding_res(positions))
        return self.token_embedding(input_ids) + table


class FGCLIPTextModel(CLIPTextModel):
    def __init__(self, config):
        super().__init__(config)
        self.embeddings = FGCLIPTextEmbeddings(config)
        self.post_init()

    def forward(self, input_ids=None, attention_mask=None, position_ids=None, walk_short_pos=False, **kwargs):
        self.embeddings.walk_short_pos = walk_short_pos
        return super().forward(input_ids=input_ids, attention_mask=attention_mask, position_ids=position_ids,
                               **kwargs)


class FGCLIPModel(CLIPModel):
    def __init__(self, config):
        super().__init__(config)
        self.text_model = FGCLIPTextModel._from_config(config.text_config)
        self.text_filip_projection = nn.Linear(config.text_config.hidden_size, config.projection_dim, bias=False)
        self.post_init()

    def get_image_features(self, pixel_values=None, **kwargs):
        return self.visual_projection(self.vision_model(pixel_values=pixel_values).pooler_output)

    def get_text_features(self, input_ids=None, attention_mask=None, position_ids=None, walk_short_pos=True,
                          **kwargs):
        out = self.text_model(input_ids=input_ids, attention_mask=attention_mask, position_ids=position_ids,
                              walk_short_pos=walk_short_pos)
        projection = self.text_projection if walk_short_pos else self.text_filip_projection
        return projection(out.pooler_output)
