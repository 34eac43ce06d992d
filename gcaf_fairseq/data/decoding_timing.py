"""What a timed decoding measured (CA Fig. 3's decoding time): the format of
``{subset}.timing.json`` (written by fairseq-generate with ``--decoding-output``) and of the
run folders' ``timing.json``. Pure Python."""

from dataclasses import dataclass

#: what the seconds cover (CA Fig. 3: "audio loading stage was not counted")
GENERATION_LOOP = ("the generation loop: each batch's forward pass and CTC search, after one untimed warm-up "
                   "forward pass, CUDA-synchronized on a GPU; model loading and audio loading excluded")


@dataclass
class GenerationTiming:
    """``seconds`` of the generation loop over ``batches`` batches holding ``audio_samples``
    samples (padding excluded), on ``device`` (``cpu``, ``cuda:0 (NVIDIA H200)``)."""

    seconds: float
    batches: int
    audio_samples: int
    device: str

    def as_dict(self, sample_rate: int) -> dict:
        """``decode_seconds``, ``audio_seconds``, ``real_time_factor`` (seconds per second of
        audio), ``batches``, ``device`` and what was ``timed``."""
        audio_seconds = self.audio_samples / sample_rate
        return {"decode_seconds": round(self.seconds, 4), "audio_seconds": round(audio_seconds, 3),
                "real_time_factor": round(self.seconds / audio_seconds, 6) if audio_seconds else None,
                "batches": self.batches, "device": self.device, "timed": GENERATION_LOOP}
