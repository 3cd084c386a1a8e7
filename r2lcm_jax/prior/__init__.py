"""PriorRAW (ACM MM'24): RAW reconstruction from sRGB with prior metadata, no per-image bits.

Modules, one job each:
  encoder          pixel searching encoder (sRGB -> per-pixel embeddings at 1/2 resolution)
  affinity         softmax(f_query . f_ref^T) x values with an online (streaming) softmax
  contrastive      Algorithm 1: contrastive training of the encoder (`train.task_api.Task`)
  kmeans           jit-compiled k-means with inner-product similarity
  compression      Algorithm 2: reference set -> clustered prior entries
  prior_file       the versioned prior file (npz) and `Prior`
  reconstructor    Algorithm 3: the prior-metadata-based reconstructor network
  reconstructor_train  training of the reconstructor (`train.task_api.Task`)
  model_file       encoder / reconstructor parameter files
  param_doc        single-file msgpack parameter documents (also the U-Net baseline's)
  inference        whole-image feature extraction, assembly and tiled reconstruction
  init             host-side parameter initialisation from one draw (also the U-Net's)
  stages           the pipeline stages (train encoder, build prior, train reconstructor)
  references       reference selection and resizing (which train images form the prior)
  diagnostics      the per-image channel-gain oracle (what limits a 0-bpp reconstruction)
  bitdepth         the 4-to-8-bit recovery task of Table 3 and its simple baselines
"""

__all__: list[str] = []
