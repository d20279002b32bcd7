"""Tiny random-initialised Hugging Face models (no download) for the SAM / SAM 2 paths.

Real ``transformers`` model classes and processors with small configs: the whole
labelkit code path (loading, prompts, embeddings, post-processing) runs; only the
weights are random.
"""

from __future__ import annotations


def tiny_sam(seed: int = 0):
    """``(SamModel, SamProcessor)`` with a 64-px input and ~50k parameters."""
    import torch
    from transformers import (
        SamConfig,
        SamImageProcessor,
        SamMaskDecoderConfig,
        SamModel,
        SamProcessor,
        SamPromptEncoderConfig,
        SamVisionConfig,
    )

    vision = SamVisionConfig(hidden_size=32, num_hidden_layers=2, num_attention_heads=2, image_size=64,
                             patch_size=8, output_channels=16, global_attn_indexes=[1], mlp_dim=64,
                             window_size=4, num_pos_feats=8)
    prompt = SamPromptEncoderConfig(hidden_size=16, image_size=64, patch_size=8, mask_input_channels=4)
    decoder = SamMaskDecoderConfig(hidden_size=16, num_hidden_layers=2, num_attention_heads=2, mlp_dim=32,
                                   iou_head_hidden_dim=16)
    torch.manual_seed(seed)
    model = SamModel(SamConfig(vision_config=vision, prompt_encoder_config=prompt, mask_decoder_config=decoder))
    processor = SamProcessor(
        image_processor=SamImageProcessor(size={"longest_edge": 64}, pad_size={"height": 64, "width": 64})
    )
    return model.eval(), processor


def tiny_sam2(seed: int = 0):
    """``(Sam2Model, Sam2Processor)`` with a 64-px input (Hiera backbone, 3 feature levels)."""
    import torch
    from transformers import (
        Sam2Config,
        Sam2HieraDetConfig,
        Sam2ImageProcessor,
        Sam2MaskDecoderConfig,
        Sam2Model,
        Sam2Processor,
        Sam2PromptEncoderConfig,
        Sam2VisionConfig,
    )

    backbone = Sam2HieraDetConfig(hidden_size=8, num_attention_heads=1, image_size=[64, 64],
                                  blocks_per_stage=[1, 1, 2, 1], embed_dim_per_stage=[8, 16, 32, 64],
                                  num_attention_heads_per_stage=[1, 1, 1, 1], window_size_per_stage=[4, 4, 4, 4],
                                  global_attention_blocks=[3], window_positional_embedding_background_size=[2, 2])
    vision = Sam2VisionConfig(backbone_config=backbone, backbone_channel_list=[64, 32, 16, 8], fpn_hidden_size=32,
                              backbone_feature_sizes=[[16, 16], [8, 8], [4, 4]])
    prompt = Sam2PromptEncoderConfig(hidden_size=32, image_size=64, patch_size=16, mask_input_channels=4)
    decoder = Sam2MaskDecoderConfig(hidden_size=32, num_hidden_layers=2, num_attention_heads=2, mlp_dim=32,
                                    iou_head_hidden_dim=16)
    torch.manual_seed(seed)
    model = Sam2Model(Sam2Config(vision_config=vision, prompt_encoder_config=prompt, mask_decoder_config=decoder))
    processor = Sam2Processor(image_processor=Sam2ImageProcessor(size={"height": 64, "width": 64}))
    return model.eval(), processor
