"""This machine: binfmt_misc, image builders."""
