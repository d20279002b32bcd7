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


def _clip_tokenizer(folder, words):
    """A real ``CLIPTokenizer`` over a tiny character vocabulary written to ``folder``."""
    import json

    from transformers import CLIPTokenizer

    folder.mkdir(parents=True, exist_ok=True)
    vocab = {"!": 0, "<|startoftext|>": 1, "<|endoftext|>": 2}  # OWL masks queries whose first id is 0
    for c in "abcdefghijklmnopqrstuvwxyz":
        vocab[c] = len(vocab)
        vocab[c + "</w>"] = len(vocab)
    (folder / "vocab.json").write_text(json.dumps(vocab))
    (folder / "merges.txt").write_text("#version: 0.2\n")
    return CLIPTokenizer(str(folder / "vocab.json"), str(folder / "merges.txt"), pad_token="!"), len(vocab)


def tiny_owlv2(folder, seed: int = 0):
    """``(Owlv2ForObjectDetection, Owlv2Processor)``: 64-px input, 16 boxes per image."""
    import torch
    from transformers import (
        Owlv2Config,
        Owlv2ForObjectDetection,
        Owlv2ImageProcessor,
        Owlv2Processor,
        Owlv2TextConfig,
        Owlv2VisionConfig,
    )

    tokenizer, vocab_size = _clip_tokenizer(folder, None)
    text = Owlv2TextConfig(vocab_size=vocab_size, hidden_size=16, intermediate_size=32, num_hidden_layers=1,
                           num_attention_heads=2, max_position_embeddings=32, bos_token_id=1, eos_token_id=2,
                           pad_token_id=0)
    vision = Owlv2VisionConfig(hidden_size=16, intermediate_size=32, num_hidden_layers=1, num_attention_heads=2,
                               image_size=64, patch_size=16)
    torch.manual_seed(seed)
    model = Owlv2ForObjectDetection(Owlv2Config(text_config=text.to_dict(), vision_config=vision.to_dict(),
                                                projection_dim=16))
    with torch.no_grad():  # boxes = OWL's box bias alone: one box centred on each patch (random ones are degenerate)
        model.box_head.dense2.weight.zero_()
        model.box_head.dense2.bias.zero_()
    processor = Owlv2Processor(image_processor=Owlv2ImageProcessor(size={"height": 64, "width": 64}),
                               tokenizer=tokenizer)
    return model.eval(), processor


def tiny_grounding_dino(folder, seed: int = 0):
    """``(GroundingDinoForObjectDetection, GroundingDinoProcessor)``: tiny Swin + BERT, 10 queries."""
    import torch
    from transformers import (
        BertConfig,
        BertTokenizer,
        GroundingDinoConfig,
        GroundingDinoForObjectDetection,
        GroundingDinoImageProcessor,
        GroundingDinoProcessor,
        SwinConfig,
    )

    folder.mkdir(parents=True, exist_ok=True)
    words = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", ".", "a", "donut", "mug", "ball", "book", "photo", "of"]
    (folder / "vocab.txt").write_text("\n".join(words) + "\n")
    tokenizer = BertTokenizer(str(folder / "vocab.txt"))
    swin = SwinConfig(image_size=64, patch_size=4, embed_dim=8, depths=[1, 1, 1, 1], num_heads=[1, 1, 1, 1],
                      window_size=2, out_features=["stage2", "stage3", "stage4"])
    text = BertConfig(vocab_size=len(words), hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
                      intermediate_size=32, max_position_embeddings=32)
    config = GroundingDinoConfig(backbone_config=swin, use_timm_backbone=False, use_pretrained_backbone=False,
                                 backbone=None, text_config=text, d_model=32, encoder_layers=1, decoder_layers=2,
                                 encoder_attention_heads=2, decoder_attention_heads=2, encoder_ffn_dim=32,
                                 decoder_ffn_dim=32, num_queries=10, num_feature_levels=3, encoder_n_points=2,
                                 decoder_n_points=2, max_text_len=32)
    torch.manual_seed(seed)
    model = GroundingDinoForObjectDetection(config)
    processor = GroundingDinoProcessor(
        image_processor=GroundingDinoImageProcessor(size={"shortest_edge": 64, "longest_edge": 96}),
        tokenizer=tokenizer,
    )
    return model.eval(), processor


def tiny_sam2_video(seed: int = 0, object_score_bias: float | None = None):
    """``(Sam2VideoModel, Sam2VideoProcessor)``: the Hiera backbone of :func:`tiny_sam2`
    (64-px input) plus a one-layer memory attention and memory encoder (~0.9M parameters).

    The memory path fixes some sizes: the memory attention's key/value width is 64
    (hard-coded in ``transformers``), so ``memory_encoder_output_channels`` is 64 and
    the feature width (FPN, prompt encoder, mask decoder, memory attention) a larger
    multiple of it (128); the RoPE grid is the coarsest feature map (4x4).

    Args:
        seed: torch seed of the random weights.
        object_score_bias: if given, the bias of the object-score head's last layer:
            large positive = the model always sees the object, large negative = it
            never does (every propagated mask empty, as for a hidden object).
    """
    import torch
    from transformers import (
        Sam2HieraDetConfig,
        Sam2ImageProcessor,
        Sam2VideoConfig,
        Sam2VideoMaskDecoderConfig,
        Sam2VideoModel,
        Sam2VideoProcessor,
        Sam2VideoPromptEncoderConfig,
        Sam2VisionConfig,
    )
    from transformers.models.sam2_video.video_processing_sam2_video import Sam2VideoVideoProcessor

    backbone = Sam2HieraDetConfig(hidden_size=8, num_attention_heads=1, image_size=[64, 64],
                                  blocks_per_stage=[1, 1, 2, 1], embed_dim_per_stage=[8, 16, 32, 64],
                                  num_attention_heads_per_stage=[1, 1, 1, 1], window_size_per_stage=[4, 4, 4, 4],
                                  global_attention_blocks=[3], window_positional_embedding_background_size=[2, 2])
    vision = Sam2VisionConfig(backbone_config=backbone, backbone_channel_list=[64, 32, 16, 8], fpn_hidden_size=128,
                              backbone_feature_sizes=[[16, 16], [8, 8], [4, 4]])
    prompt = Sam2VideoPromptEncoderConfig(hidden_size=128, image_size=64, patch_size=16, mask_input_channels=4)
    decoder = Sam2VideoMaskDecoderConfig(hidden_size=128, num_hidden_layers=1, num_attention_heads=2, mlp_dim=32,
                                         iou_head_hidden_dim=16)
    config = Sam2VideoConfig(
        vision_config=vision, prompt_encoder_config=prompt, mask_decoder_config=decoder, image_size=64,
        memory_attention_hidden_size=128, memory_attention_num_layers=1, memory_attention_feed_forward_hidden_size=32,
        memory_attention_rope_feat_sizes=[4, 4], memory_encoder_hidden_size=128, memory_encoder_output_channels=64,
        mask_downsampler_embed_dim=128, memory_fuser_embed_dim=128, memory_fuser_intermediate_dim=32,
        memory_fuser_num_layers=1,
    )
    torch.manual_seed(seed)
    model = Sam2VideoModel(config)
    if object_score_bias is not None:
        with torch.no_grad():
            model.mask_decoder.pred_obj_score_head.proj_out.bias.fill_(float(object_score_bias))
    processor = Sam2VideoProcessor(image_processor=Sam2ImageProcessor(size={"height": 64, "width": 64}),
                                   video_processor=Sam2VideoVideoProcessor(size={"height": 64, "width": 64}))
    return model.eval(), processor
