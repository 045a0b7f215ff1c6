echo next started anyway
