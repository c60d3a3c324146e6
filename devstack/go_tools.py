"""Go programs the local stack installs the Go way: ``go install MODULE@VERSION`` with
``GOBIN=.local/bin``, a pinned version, and a stamp file beside the binary saying which
version is there (a changed pin installs again). Used by stripe-mock and the S3 server."""
from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class GoTool:
    name: str
    module: str
    version: str
    bin_dir: Path

    @property
    def binary(self) -> Path:
        return self.bin_dir / self.name

    @property
    def stamp(self) -> Path:
        return self.bin_dir / f"{self.name}.version"

    def installed(self) -> bool:
        return self.binary.exists() and self.stamp.exists() and self.stamp.read_text().strip() == self.version

    def install(self, force: bool = False) -> Path:
        """``go install MODULE@VERSION`` into ``bin_dir`` (no shell), unless already there."""
        if self.installed() and not force:
            return self.binary
        go = shutil.which("go")
        if go is None:
            raise RuntimeError(f"{self.name} needs Go to install (go install); none on PATH")
        self.bin_dir.mkdir(parents=True, exist_ok=True)
        env = {**os.environ, "GOBIN": str(self.bin_dir), "GOFLAGS": "-buildvcs=false"}
        subprocess.run([go, "install", f"{self.module}@{self.version}"], check=True, env=env, cwd=self.bin_dir)
        self.stamp.write_text(self.version + "\n")
        return self.binary
