"""Shared media: content-addressed storage, photo/document checking and cleaning, the media_object table."""
