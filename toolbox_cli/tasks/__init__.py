"""Task modules. Importing this package registers every task."""
